using System.Text;
using System.Text.Json;
using Envoy.Config.Core.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.ExtProc.V3;
using Envoy.Extensions.Retry.Host.OmitCanaryHosts.V3;
using Envoy.Extensions.Retry.Host.PreviousHosts.V3;
using Google.Protobuf.WellKnownTypes;
using Waypoint.Transformation.Model;
using Waypoint.Transformation.Templates;
using EnvoyRetryPolicy = Envoy.Config.Route.V3.RetryPolicy;
using HeaderSendMode = Envoy.Extensions.Filters.Http.ExtProc.V3.ProcessingMode.Types.HeaderSendMode;
using BodySendMode = Envoy.Extensions.Filters.Http.ExtProc.V3.ProcessingMode.Types.BodySendMode;

namespace Waypoint.Transformation.Compilation;

/// <summary>
/// Validates a <see cref="V1alpha1TrafficPolicy"/> and compiles it to Envoy route config (pure; no I/O).
/// All problems are reported at once; an invalid policy yields no <see cref="CompiledTrafficPolicy"/>.
/// </summary>
public static class TrafficPolicyCompiler
{
    /// <summary>Upper bound of the encoded transformation carried in the per-route gRPC metadata.</summary>
    public const int MaxEncodedTransformationBytes = 48 * 1024;

    private static readonly HashSet<string> s_retryOn = new(StringComparer.Ordinal)
    {
        "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited", "retriable-4xx",
        "refused-stream", "retriable-status-codes", "http3-post-connect-failure",
        "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
    };

    public static TrafficPolicyCompileResult Compile(V1alpha1TrafficPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var errors = new List<string>();
        var spec = policy.Spec ?? new V1alpha1TrafficPolicySpec();

        var targets = spec.TargetRefs ?? [];
        for (var i = 0; i < targets.Count; i++)
        {
            var target = targets[i];
            var isRoute = target is { Group: "gateway.networking.k8s.io", Kind: "HTTPRoute" };
            var isGateway = target is { Group: "gateway.networking.k8s.io", Kind: "Gateway" };
            if (!isRoute && !isGateway)
            {
                errors.Add($"spec.targetRefs[{i}]: {target.Group}/{target.Kind} is not supported (HTTPRoute or Gateway of group gateway.networking.k8s.io)");
            }

            if (string.IsNullOrEmpty(target.Name))
            {
                errors.Add($"spec.targetRefs[{i}].name: required");
            }
        }

        var transformation = spec.Transformation is { } t ? CompileTransformation(t, errors) : null;
        var (requestTimeout, idleTimeout) = CompileTimeouts(spec.Timeouts, errors);
        var retry = spec.Retry is { } r ? CompileRetry(r, requestTimeout, errors) : null;

        if (errors.Count > 0)
        {
            return new TrafficPolicyCompileResult { Errors = errors };
        }

        return new TrafficPolicyCompileResult
        {
            Policy = new CompiledTrafficPolicy
            {
                Namespace = policy.Metadata?.NamespaceProperty ?? "default",
                Name = policy.Metadata?.Name ?? "",
                CreationTimestamp = policy.Metadata?.CreationTimestamp,
                TargetRefs = [.. targets],
                Transformation = transformation,
                Retry = retry,
                RequestTimeout = requestTimeout,
                StreamIdleTimeout = idleTimeout,
            },
        };
    }

    /// <summary>Compiles a transformation on its own (also used by the transformation service to rebuild programs).</summary>
    public static CompiledTransformation? CompileTransformation(TransformationPolicy spec, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(errors);
        var before = errors.Count;
        var request = spec.Request is { } rq ? TransformProgram.Build(rq, "spec.transformation.request", errors) : null;
        var response = spec.Response is { } rs ? TransformProgram.Build(rs, "spec.transformation.response", errors) : null;
        if (errors.Count > before)
        {
            return null;
        }

        if (request is { IsEmpty: true })
        {
            request = null;
        }

        if (response is { IsEmpty: true })
        {
            response = null;
        }

        var reason = ExternalProcessingReason(request, isResponse: false) ?? ExternalProcessingReason(response, isResponse: true);
        if (reason is null)
        {
            return new CompiledTransformation
            {
                Spec = spec,
                Request = request,
                Response = response,
                RequestHeadersToAdd = NativeHeaders(request, isResponse: false),
                RequestHeadersToRemove = request?.Remove ?? [],
                ResponseHeadersToAdd = NativeHeaders(response, isResponse: true),
                ResponseHeadersToRemove = response?.Remove ?? [],
            };
        }

        var encoded = TransformationExtProc.Encode(spec);
        if (encoded.Length > MaxEncodedTransformationBytes)
        {
            errors.Add($"spec.transformation: the transformation is {encoded.Length} bytes encoded; at most {MaxEncodedTransformationBytes} are supported");
            return null;
        }

        var needsRequestHeaders = request is not null
            || (response?.Templates.Any(x => x.Analysis.RequestHeaders.Count > 0 || x.Analysis.ReadsDynamicHeaderNames) ?? false);
        var mode = new ProcessingMode
        {
            RequestHeaderMode = needsRequestHeaders ? HeaderSendMode.Send : HeaderSendMode.Skip,
            RequestBodyMode = request?.NeedsBody == true ? BodySendMode.Buffered : BodySendMode.None,
            RequestTrailerMode = HeaderSendMode.Skip,
            ResponseHeaderMode = response is not null ? HeaderSendMode.Send : HeaderSendMode.Skip,
            ResponseBodyMode = response?.NeedsBody == true ? BodySendMode.Buffered : BodySendMode.None,
            ResponseTrailerMode = HeaderSendMode.Skip,
        };
        var perRoute = new ExtProcPerRoute
        {
            Overrides = new ExtProcOverrides
            {
                ProcessingMode = mode,
                GrpcInitialMetadata = { new HeaderValue { Key = TransformationExtProc.TransformationMetadataKey, Value = encoded } },
            },
        };
        return new CompiledTransformation
        {
            Spec = spec,
            Request = request,
            Response = response,
            ExtProcPerRoute = perRoute,
            ExternalProcessingReason = reason,
        };
    }

    /// <summary>Why Envoy cannot do this direction natively, or null when it can.</summary>
    private static string? ExternalProcessingReason(TransformProgram? program, bool isResponse)
    {
        if (program is null)
        {
            return null;
        }

        var side = isResponse ? "response" : "request";
        if (program.Body is not null)
        {
            return $"{side} body template";
        }

        if (program.ParseAsJson)
        {
            return $"{side} body parsed as JSON";
        }

        var written = new HashSet<string>(program.Set.Select(h => h.Name).Concat(program.Add.Select(h => h.Name)).Concat(program.Remove), StringComparer.Ordinal);
        foreach (var header in program.Set.Concat(program.Add))
        {
            if (header.Name.StartsWith(':') || header.Name == "host")
            {
                return $"{side} header '{header.Name}' cannot be set by route config";
            }

            var analysis = header.Value.Analysis;
            if (!analysis.IsNativelyExpressible)
            {
                return $"{side} header '{header.Name}' template needs the template engine";
            }

            // Envoy applies route header rules one by one, so a template reading a header this direction also writes
            // would see the new value; Inja reads the original message. Keep kgateway's semantics.
            if (analysis.Headers.Concat(isResponse ? [] : analysis.RequestHeaders).Any(written.Contains))
            {
                return $"{side} header '{header.Name}' reads a header the same transformation modifies";
            }
        }

        return null;
    }

    private static List<HeaderValueOption> NativeHeaders(TransformProgram? program, bool isResponse)
    {
        var result = new List<HeaderValueOption>();
        if (program is null)
        {
            return result;
        }

        foreach (var (header, append) in program.Set.Select(h => (h, false)).Concat(program.Add.Select(h => (h, true))))
        {
            result.Add(new HeaderValueOption
            {
                Header = new HeaderValue { Key = header.Name, Value = NativeFormat.ToEnvoyFormat(header.Value, isResponse) },
                AppendAction = append
                    ? HeaderValueOption.Types.HeaderAppendAction.AppendIfExistsOrAdd
                    : HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd,
                KeepEmptyValue = header.Value.Analysis.IsLiteral,
            });
        }

        return result;
    }

    private static (Duration? Request, Duration? Idle) CompileTimeouts(TimeoutsSpec? timeouts, List<string> errors)
    {
        if (timeouts is null)
        {
            return (null, null);
        }

        return (DurationField(timeouts.Request, "spec.timeouts.request", errors), DurationField(timeouts.StreamIdle, "spec.timeouts.streamIdle", errors));
    }

    private static Duration? DurationField(string? text, string path, List<string> errors)
    {
        if (text is null)
        {
            return null;
        }

        if (!GatewayDuration.TryParse(text, out var value))
        {
            errors.Add($"{path}: '{text}' is not a duration (e.g. 500ms, 10s, 1m30s)");
            return null;
        }

        return Duration.FromTimeSpan(value);
    }

    private static EnvoyRetryPolicy? CompileRetry(RetryPolicySpec retry, Duration? requestTimeout, List<string> errors)
    {
        var before = errors.Count;
        var conditions = new List<string>();
        if ((retry.RetryOn?.Count ?? 0) == 0 && (retry.StatusCodes?.Count ?? 0) == 0)
        {
            errors.Add("spec.retry: retryOn or statusCodes must be set");
        }

        for (var i = 0; i < (retry.RetryOn?.Count ?? 0); i++)
        {
            var condition = retry.RetryOn![i];
            if (!s_retryOn.Contains(condition))
            {
                errors.Add($"spec.retry.retryOn[{i}]: '{condition}' is not a supported condition ({string.Join(", ", s_retryOn)})");
            }
            else if (!conditions.Contains(condition))
            {
                conditions.Add(condition);
            }
        }

        var codes = new List<uint>();
        for (var i = 0; i < (retry.StatusCodes?.Count ?? 0); i++)
        {
            var code = retry.StatusCodes![i];
            if (code is < 400 or > 599)
            {
                errors.Add($"spec.retry.statusCodes[{i}]: {code} is outside 400-599");
            }
            else
            {
                codes.Add((uint)code);
            }
        }

        if (codes.Count > 0 && !conditions.Contains("retriable-status-codes"))
        {
            conditions.Add("retriable-status-codes");
        }

        if (retry.Attempts is < 0)
        {
            errors.Add($"spec.retry.attempts: {retry.Attempts} must be 0 or more");
        }

        var perTry = DurationField(retry.PerTryTimeout, "spec.retry.perTryTimeout", errors);
        if (perTry is not null && perTry.ToTimeSpan() < TimeSpan.FromMilliseconds(1))
        {
            errors.Add("spec.retry.perTryTimeout: must be at least 1ms");
        }

        if (perTry is not null && requestTimeout is not null && perTry.ToTimeSpan() >= requestTimeout.ToTimeSpan())
        {
            errors.Add($"spec.retry.perTryTimeout: {retry.PerTryTimeout} must be less than timeouts.request");
        }

        var backoff = retry.BackoffBaseInterval is null ? Duration.FromTimeSpan(TimeSpan.FromMilliseconds(25)) : DurationField(retry.BackoffBaseInterval, "spec.retry.backoffBaseInterval", errors);
        if (backoff is not null && backoff.ToTimeSpan() < TimeSpan.FromMilliseconds(1))
        {
            errors.Add("spec.retry.backoffBaseInterval: must be at least 1ms");
        }

        var predicates = new List<EnvoyRetryPolicy.Types.RetryHostPredicate>();
        foreach (var (predicate, i) in (retry.RetryHostPredicates ?? []).Select((p, i) => (p, i)))
        {
            switch (predicate)
            {
                case "PreviousHosts":
                    predicates.Add(new EnvoyRetryPolicy.Types.RetryHostPredicate { Name = "envoy.retry_host_predicates.previous_hosts", TypedConfig = Any.Pack(new PreviousHostsPredicate()) });
                    break;
                case "OmitCanaryHosts":
                    predicates.Add(new EnvoyRetryPolicy.Types.RetryHostPredicate { Name = "envoy.retry_host_predicates.omit_canary_hosts", TypedConfig = Any.Pack(new OmitCanaryHostsPredicate()) });
                    break;
                default:
                    errors.Add($"spec.retry.retryHostPredicates[{i}]: '{predicate}' is not supported (PreviousHosts, OmitCanaryHosts)");
                    break;
            }
        }

        if (errors.Count > before)
        {
            return null;
        }

        var policy = new EnvoyRetryPolicy
        {
            RetryOn = string.Join(',', conditions),
            NumRetries = (uint)(retry.Attempts ?? 1),
            RetryBackOff = new EnvoyRetryPolicy.Types.RetryBackOff { BaseInterval = backoff },
        };
        policy.RetriableStatusCodes.AddRange(codes);
        policy.RetryHostPredicate.AddRange(predicates);
        if (predicates.Any(p => p.Name.EndsWith("previous_hosts", StringComparison.Ordinal)))
        {
            // Envoy re-picks once by default; a few more tries make "avoid the failed host" useful on small clusters.
            policy.HostSelectionRetryMaxAttempts = 3;
        }

        if (perTry is not null)
        {
            policy.PerTryTimeout = perTry;
        }

        return policy;
    }
}

/// <summary>Names shared by the compiler, the translator's filter/cluster config and the transformation service.</summary>
public static class TransformationExtProc
{
    /// <summary>The HCM filter name of the (disabled-by-default) ext_proc filter; per-route config is keyed by it.</summary>
    public const string FilterName = "waypoint.transformation";

    /// <summary>The Envoy cluster reaching the transformation service over its Unix socket.</summary>
    public const string ClusterName = "waypoint_transformation";

    /// <summary>gRPC metadata carrying the base64 JSON of the route's transformation (set via ExtProcPerRoute).</summary>
    public const string TransformationMetadataKey = "x-waypoint-transformation";

    /// <summary>Default socket path inside the pod (an emptyDir shared by Envoy and the agent).</summary>
    public const string DefaultSocketPath = "/var/run/waypoint/transformation.sock";

    private static readonly JsonSerializerOptions s_json = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    internal static string Encode(TransformationPolicy spec) => Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(spec, s_json));

    internal static TransformationPolicy? Decode(string encoded)
    {
        var bytes = Convert.FromBase64String(encoded);
        return JsonSerializer.Deserialize<TransformationPolicy>(Encoding.UTF8.GetString(bytes));
    }
}
