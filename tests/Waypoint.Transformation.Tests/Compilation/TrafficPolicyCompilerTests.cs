using Envoy.Config.Core.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.ExtProc.V3;
using Google.Protobuf.WellKnownTypes;
using Waypoint.Transformation.Compilation;
using HeaderSendMode = Envoy.Extensions.Filters.Http.ExtProc.V3.ProcessingMode.Types.HeaderSendMode;
using BodySendMode = Envoy.Extensions.Filters.Http.ExtProc.V3.ProcessingMode.Types.BodySendMode;

namespace Waypoint.Transformation.Tests.Compilation;

public sealed class TrafficPolicyCompilerTests
{
    [Fact]
    public void HeaderToHeader_CompilesToRouteHeaderRules()
    {
        var policy = PolicyYaml.Compile("p", """
            transformation:
              request:
                set:
                - name: X-Copied
                  value: 'v={{ header("x-source") }}'
                add:
                - name: x-static
                  value: '50% off'
                remove: [X-Secret]
              response:
                set:
                - name: x-echo
                  value: '{{ request_header("x-source") }}|{{ header("server") }}'
            """);

        var transformation = policy.Transformation!;
        Assert.False(transformation.UsesExternalProcessing);
        Assert.Collection(transformation.RequestHeadersToAdd,
            h => Assert.Equal(("x-copied", "v=%REQ(x-source)%", HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd, false), (h.Header.Key, h.Header.Value, h.AppendAction, h.KeepEmptyValue)),
            h => Assert.Equal(("x-static", "50%% off", HeaderValueOption.Types.HeaderAppendAction.AppendIfExistsOrAdd, true), (h.Header.Key, h.Header.Value, h.AppendAction, h.KeepEmptyValue)));
        Assert.Equal(["x-secret"], transformation.RequestHeadersToRemove);
        Assert.Equal("%REQ(x-source)%|%RESP(server)%", Assert.Single(transformation.ResponseHeadersToAdd).Header.Value);
    }

    [Theory]
    [InlineData("request:\n    set:\n    - name: x\n      value: '{{ base64_encode(header(\"a\")) }}'", "request header 'x' template needs the template engine", true, false, false, false)]
    [InlineData("request:\n    body:\n      parseAs: AsJson", "request body parsed as JSON", true, true, false, false)]
    [InlineData("request:\n    body:\n      value: 'static'", "request body template", true, true, false, false)]
    [InlineData("request:\n    set:\n    - name: ':path'\n      value: '/new'", "request header ':path' cannot be set by route config", true, false, false, false)]
    [InlineData("request:\n    set:\n    - name: x-a\n      value: '{{ header(\"x-b\") }}'\n    remove: [x-b]", "request header 'x-a' reads a header the same transformation modifies", true, false, false, false)]
    [InlineData("response:\n    set:\n    - name: x\n      value: '{{ substring(header(\"a\"), 1) }}'", "response header 'x' template needs the template engine", false, false, true, false)]
    [InlineData("response:\n    set:\n    - name: x\n      value: '{{ substring(request_header(\"a\"), 1) }}'", "response header 'x' template needs the template engine", true, false, true, false)]
    [InlineData("response:\n    body:\n      value: '{{ body() }}!'", "response body template", false, false, true, true)]
    public void NonNativeTransformations_RunInTheServiceWithTheMinimalProcessingMode(
        string transformation, string reason, bool requestHeaders, bool requestBody, bool responseHeaders, bool responseBody)
    {
        var policy = PolicyYaml.Compile("p", "transformation:\n  " + transformation.Replace("\n", "\n  ", StringComparison.Ordinal));

        var compiled = policy.Transformation!;
        Assert.True(compiled.UsesExternalProcessing);
        Assert.Equal(reason, compiled.ExternalProcessingReason);
        Assert.Empty(compiled.RequestHeadersToAdd);
        var mode = compiled.ExtProcPerRoute!.Overrides.ProcessingMode;
        Assert.Equal(requestHeaders ? HeaderSendMode.Send : HeaderSendMode.Skip, mode.RequestHeaderMode);
        Assert.Equal(requestBody ? BodySendMode.Buffered : BodySendMode.None, mode.RequestBodyMode);
        Assert.Equal(responseHeaders ? HeaderSendMode.Send : HeaderSendMode.Skip, mode.ResponseHeaderMode);
        Assert.Equal(responseBody ? BodySendMode.Buffered : BodySendMode.None, mode.ResponseBodyMode);
        Assert.Equal(HeaderSendMode.Skip, mode.RequestTrailerMode);

        // The route carries the spec so the service runs exactly this transformation.
        var metadata = Assert.Single(compiled.ExtProcPerRoute.Overrides.GrpcInitialMetadata);
        Assert.Equal(TransformationExtProc.TransformationMetadataKey, metadata.Key);
        Assert.Equal(metadata.Value, TransformationExtProc.Encode(TransformationExtProc.Decode(metadata.Value)!));
        Assert.Equal(TransformationExtProc.Encode(compiled.Spec), metadata.Value);
    }

    [Fact]
    public void Retry_FollowsKgatewaySemantics()
    {
        var policy = PolicyYaml.Compile("p", """
            retry:
              retryOn: [5xx, connect-failure, unavailable]
              attempts: 3
              perTryTimeout: 500ms
              statusCodes: [429, 503]
              retryHostPredicates: [PreviousHosts, OmitCanaryHosts]
            timeouts:
              request: 2s
              streamIdle: 1m
            """);

        var retry = policy.Retry!;
        Assert.Equal("5xx,connect-failure,unavailable,retriable-status-codes", retry.RetryOn);
        Assert.Equal(3u, retry.NumRetries);
        Assert.Equal(TimeSpan.FromMilliseconds(500), retry.PerTryTimeout.ToTimeSpan());
        Assert.Equal([429u, 503u], retry.RetriableStatusCodes);
        Assert.Equal(TimeSpan.FromMilliseconds(25), retry.RetryBackOff.BaseInterval.ToTimeSpan());
        Assert.Equal(["envoy.retry_host_predicates.previous_hosts", "envoy.retry_host_predicates.omit_canary_hosts"], retry.RetryHostPredicate.Select(p => p.Name));
        Assert.Equal(3, retry.HostSelectionRetryMaxAttempts);
        Assert.Equal(TimeSpan.FromSeconds(2), policy.RequestTimeout!.ToTimeSpan());
        Assert.Equal(TimeSpan.FromMinutes(1), policy.StreamIdleTimeout!.ToTimeSpan());
    }

    [Fact]
    public void Retry_Defaults_OneAttempt()
    {
        var retry = PolicyYaml.Compile("p", "retry:\n  statusCodes: [503]").Retry!;
        Assert.Equal(1u, retry.NumRetries);
        Assert.Equal("retriable-status-codes", retry.RetryOn);
        Assert.Null(retry.PerTryTimeout);
    }

    [Theory]
    [InlineData("retry:\n  attempts: 2", "spec.retry: retryOn or statusCodes must be set")]
    [InlineData("retry:\n  retryOn: [5xx]\n  perTryTimeout: 2s\ntimeouts:\n  request: 1s", "spec.retry.perTryTimeout: 2s must be less than timeouts.request")]
    [InlineData("retry:\n  retryOn: [sometimes]", "spec.retry.retryOn[0]: 'sometimes' is not a supported condition")]
    [InlineData("retry:\n  retryOn: [5xx]\n  statusCodes: [200]", "spec.retry.statusCodes[0]: 200 is outside 400-599")]
    [InlineData("retry:\n  retryOn: [5xx]\n  attempts: -1", "spec.retry.attempts: -1 must be 0 or more")]
    [InlineData("retry:\n  retryOn: [5xx]\n  backoffBaseInterval: 1.5s", "spec.retry.backoffBaseInterval: '1.5s' is not a duration")]
    [InlineData("retry:\n  retryOn: [5xx]\n  retryHostPredicates: [Random]", "spec.retry.retryHostPredicates[0]: 'Random' is not supported")]
    [InlineData("timeouts:\n  request: 10", "spec.timeouts.request: '10' is not a duration")]
    [InlineData("transformation:\n  request:\n    set:\n    - name: 'bad header'\n      value: x", "spec.transformation.request.set[0].name: 'bad header' is not a valid header name")]
    [InlineData("transformation:\n  request:\n    remove: [':path']", "spec.transformation.request.remove[0]: pseudo-header ':path' cannot be removed")]
    [InlineData("transformation:\n  response:\n    set:\n    - name: x\n      value: '{{ user.id }}'", "spec.transformation.response: template '{{ user.id }}' reads the JSON body (user) but body.parseAs is not AsJson")]
    [InlineData("transformation:\n  response:\n    body:\n      parseAs: AsXml", "spec.transformation.response.body.parseAs: 'AsXml' is not supported")]
    [InlineData("transformation:\n  request:\n    add:\n    - name: x\n      value: '{% for i in x %}{% endfor %}'", "spec.transformation.request.add[0].value: invalid template at line 1, column 4: '{% for %}' statements are not supported")]
    [InlineData("transformation:\n  request:\n    set:\n    - name: x\n      value: a\n    - name: X\n      value: b", "spec.transformation.request.set[1].name: header 'X' appears more than once")]
    public void InvalidPolicies_AreRejectedWithTheFieldAndTheProblem(string spec, string expected)
    {
        var result = TrafficPolicyCompiler.Compile(PolicyYaml.Policy("p", spec));
        Assert.False(result.Succeeded);
        Assert.Contains(result.Errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void AllErrors_AreReportedAtOnce()
    {
        var result = TrafficPolicyCompiler.Compile(PolicyYaml.Policy("p", """
            transformation:
              request:
                set:
                - name: x
                  value: '{{ nope() }}'
            retry:
              retryOn: [bogus]
            timeouts:
              request: forever
            """));
        Assert.Equal(3, result.Errors.Count);
        Assert.Contains("unknown function 'nope'", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void UnsupportedTargetKind_IsRejected()
    {
        var result = TrafficPolicyCompiler.Compile(PolicyYaml.Policy("p", "timeouts:\n  request: 1s", targetKind: "GRPCRoute"));
        Assert.Equal("spec.targetRefs[0]: gateway.networking.k8s.io/GRPCRoute is not supported (HTTPRoute or Gateway of group gateway.networking.k8s.io)", Assert.Single(result.Errors));
    }

    [Fact]
    public void Envoy_FilterIsDisabledByDefault_AndTheClusterSpeaksHttp2OverTheSocket()
    {
        var filter = TransformationEnvoyConfig.CreateHttpFilter();
        Assert.True(filter.Disabled);
        Assert.Equal(TransformationExtProc.FilterName, filter.Name);
        var config = filter.TypedConfig.Unpack<ExternalProcessor>();
        Assert.Equal(TransformationExtProc.ClusterName, config.GrpcService.EnvoyGrpc.ClusterName);
        Assert.False(config.FailureModeAllow);
        Assert.Equal(HeaderSendMode.Skip, config.ProcessingMode.RequestHeaderMode);

        var cluster = TransformationEnvoyConfig.CreateCluster("/tmp/x.sock");
        Assert.Equal("/tmp/x.sock", cluster.LoadAssignment.Endpoints[0].LbEndpoints[0].Endpoint.Address.Pipe.Path);
        Assert.True(cluster.TypedExtensionProtocolOptions.ContainsKey("envoy.extensions.upstreams.http.v3.HttpProtocolOptions"));
    }

    [Fact]
    public void ApplyTo_ExtProcRoute_EnablesTheFilterForThatRouteOnly()
    {
        var policy = PolicyYaml.Compile("p", "transformation:\n  request:\n    body:\n      value: x");
        var route = new Route { Route_ = new RouteAction { Cluster = "c" } };
        RouteTrafficPolicy.Resolve(null, [policy]).ApplyTo(route);

        var filterConfig = route.TypedPerFilterConfig[TransformationExtProc.FilterName].Unpack<FilterConfig>();
        Assert.False(filterConfig.Disabled);
        Assert.Equal(policy.Transformation!.ExtProcPerRoute, filterConfig.Config.Unpack<ExtProcPerRoute>());
        Assert.Empty(route.RequestHeadersToAdd);
    }
}
