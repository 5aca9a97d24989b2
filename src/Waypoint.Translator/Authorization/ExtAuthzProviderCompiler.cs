using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Extensions.Filters.Http.ExtAuthz.V3;
using UpstreamHttpOptions = Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;
using Envoy.Type.Matcher.V3;
using Envoy.Type.V3;
using Waypoint.Translator.Model;
using HttpRbac = Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;
using HttpService = Envoy.Extensions.Filters.Http.ExtAuthz.V3.HttpService;

namespace Waypoint.Translator.Authorization;

/// <summary>
/// Compiles a mesh config <c>extensionProviders</c> entry (<c>envoyExtAuthzHttp</c> or <c>envoyExtAuthzGrpc</c>) into
/// what a chain needs to ask it: an <c>envoy.filters.http.ext_authz</c> filter, enabled only by the dynamic metadata its
/// shadow RBAC filter writes for requests a CUSTOM policy selects, and a cluster for a provider outside the mesh.
/// </summary>
/// <remarks>
/// Field meanings are Istio's (mesh config reference): <c>timeout</c> defaults to 600s, <c>statusOnError</c> to 403;
/// header lists take exact, <c>prefix*</c>, <c>*suffix</c> and <c>*</c>, case-insensitively. A field we cannot honour
/// is a problem: every CUSTOM policy naming the provider then denies its requests, with the field in its status.
/// </remarks>
internal static class ExtAuthzProviderCompiler
{
    /// <summary>The dynamic metadata namespace Envoy's RBAC filter writes its shadow result under (whatever the filter's name).</summary>
    public const string RbacMetadataNamespace = "envoy.filters.http.rbac";

    /// <summary>Prefix of the shadow policy ids of CUSTOM policies; the ext_authz filter runs when the matched id has it.</summary>
    public const string ShadowPolicyPrefix = "ext-authz-";

    private static readonly TimeSpan s_defaultTimeout = TimeSpan.FromSeconds(600);

    public static CompiledExtAuthzProvider Compile(MeshExtensionProvider provider, TranslatorOptions options)
    {
        var name = provider.Name ?? "";
        var at = $"{provider.Source} extensionProviders[{provider.Index.ToString(CultureInfo.InvariantCulture)}] ('{name}')";
        var problems = new List<string>();
        if (provider.ParseProblem is { } parse)
        {
            problems.Add($"{at}: {parse}");
            return Failed(name, problems);
        }

        var http = provider.EnvoyExtAuthzHttp;
        var grpc = provider.EnvoyExtAuthzGrpc;
        if (http is null == grpc is null)
        {
            problems.Add(http is null
                ? $"{at}: not an ext_authz provider (envoyExtAuthzHttp or envoyExtAuthzGrpc); {string.Join(", ", (provider.Other?.Keys ?? []).Order(StringComparer.Ordinal))} cannot authorize requests"
                : $"{at}: has both envoyExtAuthzHttp and envoyExtAuthzGrpc");
            return Failed(name, problems);
        }

        at += http is not null ? ".envoyExtAuthzHttp" : ".envoyExtAuthzGrpc";
        var (service, portValue, timeoutText, failOpen, statusText, bodySpec, unsupported) = http is not null
            ? (http.Service, http.Port, http.Timeout, http.FailOpen, http.StatusOnError, http.IncludeRequestBodyInCheck, http.Unsupported)
            : (grpc!.Service, grpc.Port, grpc.Timeout, grpc.FailOpen, grpc.StatusOnError, grpc.IncludeRequestBodyInCheck, grpc.Unsupported);
        foreach (var field in unsupported?.Keys ?? [])
        {
            problems.Add($"{at}.{field}: not supported");
        }

        var host = ServiceHost(service);
        if (host is null)
        {
            problems.Add($"{at}.service: required (a host name, optionally as <namespace>/<host>)");
        }

        var port = Port(portValue, $"{at}.port", problems);
        var timeout = s_defaultTimeout;
        if (timeoutText is not null && !RequestAuthenticationCompiler.TryParseDuration(timeoutText, out timeout))
        {
            problems.Add($"{at}.timeout: '{timeoutText}' is not a duration");
        }

        var statusOnError = StatusCode.Forbidden;
        if (statusText is not null)
        {
            if (int.TryParse(statusText, NumberStyles.None, CultureInfo.InvariantCulture, out var code) && code != 0 && Enum.IsDefined((StatusCode)code))
            {
                statusOnError = (StatusCode)code;
            }
            else
            {
                problems.Add($"{at}.statusOnError: '{statusText}' is not an HTTP status code Envoy can send");
            }
        }

        var body = Body(bodySpec, $"{at}.includeRequestBodyInCheck", problems);
        var slug = Slug(name);
        var statPrefix = $"ext_authz_{slug}_";
        var config = new ExtAuthz
        {
            TransportApiVersion = ApiVersion.V3,
            FailureModeAllow = failOpen == true,
            StatusOnError = new HttpStatus { Code = statusOnError },
            StatPrefix = statPrefix,
            FilterEnabledMetadata = new MetadataMatcher
            {
                Filter = RbacMetadataNamespace,
                Path = { new MetadataMatcher.Types.PathSegment { Key = statPrefix + "shadow_effective_policy_id" } },
                Value = new ValueMatcher { StringMatch = new StringMatcher { Prefix = ShadowPolicyPrefix } },
            },
        };
        if (body is not null)
        {
            config.WithRequestBody = body;
        }

        if (http is not null)
        {
            if (http.PathPrefix is { Length: > 0 } prefix && !prefix.StartsWith('/'))
            {
                problems.Add($"{at}.pathPrefix: '{prefix}' must start with '/'");
            }

            var request = new AuthorizationRequest();
            foreach (var (header, value) in (http.IncludeAdditionalHeadersInCheck ?? new Dictionary<string, string>()).OrderBy(h => h.Key, StringComparer.Ordinal))
            {
                if (!HeaderName(header))
                {
                    problems.Add($"{at}.includeAdditionalHeadersInCheck: '{header}' is not a header name");
                    continue;
                }

                request.HeadersToAdd.Add(new HeaderValue { Key = header, Value = value });
            }

            var response = new AuthorizationResponse();
            AddMatchers(response.AllowedUpstreamHeaders ??= new ListStringMatcher(), http.HeadersToUpstreamOnAllow);
            AddMatchers(response.AllowedClientHeaders ??= new ListStringMatcher(), http.HeadersToDownstreamOnDeny);
            AddMatchers(response.AllowedClientHeadersOnSuccess ??= new ListStringMatcher(), http.HeadersToDownstreamOnAllow);
            ClearEmpty(response);
            config.HttpService = new HttpService
            {
                ServerUri = new HttpUri { Uri = $"http://{host}:{port.ToString(CultureInfo.InvariantCulture)}", Cluster = "", Timeout = Internal.Envoy.Duration(timeout) },
                PathPrefix = http.PathPrefix ?? "",
                AuthorizationRequest = request,
                AuthorizationResponse = response,
            };
            if (http.IncludeRequestHeadersInCheck is { Count: > 0 } included)
            {
                config.AllowedHeaders = new ListStringMatcher();
                AddMatchers(config.AllowedHeaders, included);
            }
        }
        else
        {
            // As Istio does: the :authority is the provider's host. Envoy's default, the cluster name, holds '|', which
            // servers that validate the authority (ASP.NET Core's Kestrel, for one) refuse.
            config.GrpcService = new GrpcService
            {
                Timeout = Internal.Envoy.Duration(timeout),
                EnvoyGrpc = new GrpcService.Types.EnvoyGrpc { ClusterName = "", Authority = host ?? "" },
            };
        }

        if (problems.Count > 0)
        {
            return Failed(name, problems);
        }

        var (serviceNs, serviceName) = MeshService(host!, options);
        return new CompiledExtAuthzProvider(
            name,
            grpc is not null,
            host!,
            port,
            serviceNs is null ? null : (serviceNs, serviceName!),
            DnsCluster(host!, port, grpc is not null, options),
            config,
            statPrefix,
            slug,
            []);
    }

    private static CompiledExtAuthzProvider Failed(string name, List<string> problems) =>
        new(name, false, "", 0, null, null, null, "", Slug(name), problems);

    /// <summary>The host of <c>service</c>: Istio also accepts <c>&lt;namespace&gt;/&lt;host&gt;</c>.</summary>
    private static string? ServiceHost(string? service)
    {
        if (string.IsNullOrWhiteSpace(service))
        {
            return null;
        }

        var slash = service.IndexOf('/', StringComparison.Ordinal);
        var host = slash >= 0 ? service[(slash + 1)..] : service;
        return host.Length == 0 || host.Any(c => char.IsWhiteSpace(c) || c is '/' or ':' or '@') ? null : host;
    }

    /// <summary><c>name.ns.svc.&lt;cluster domain&gt;</c> names a mesh Service; anything else is reached through DNS.</summary>
    private static (string? Ns, string? Name) MeshService(string host, TranslatorOptions options)
    {
        var suffix = ".svc." + options.ClusterDomain;
        if (!host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
        {
            return (null, null);
        }

        var parts = host[..^suffix.Length].Split('.');
        return parts.Length == 2 ? (parts[1], parts[0]) : (null, null);
    }

    private static int Port(JsonElement? value, string at, List<string> problems)
    {
        var port = value switch
        {
            { ValueKind: JsonValueKind.Number } v when v.TryGetInt32(out var n) => n,
            { ValueKind: JsonValueKind.String } v when int.TryParse(v.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) => n,
            _ => -1,
        };
        if (port is < 1 or > 65535)
        {
            problems.Add(value is null ? $"{at}: required" : $"{at}: '{value}' is not a port number");
        }

        return port;
    }

    private static BufferSettings? Body(ExtAuthzRequestBody? body, string at, List<string> problems)
    {
        if (body is null)
        {
            return null;
        }

        foreach (var field in body.Unsupported?.Keys ?? [])
        {
            problems.Add($"{at}.{field}: not supported");
        }

        // Istio's default when the field is set without a size: Envoy needs one (> 0).
        var max = body.MaxRequestBytes ?? 4096;
        if (max == 0)
        {
            problems.Add($"{at}.maxRequestBytes: must be greater than 0");
        }

        return new BufferSettings { MaxRequestBytes = max, AllowPartialMessage = body.AllowPartialMessage == true, PackAsBytes = body.PackAsBytes == true };
    }

    private static void AddMatchers(ListStringMatcher into, IList<string>? headers)
    {
        foreach (var header in headers ?? [])
        {
            into.Patterns.Add(AuthorizationPolicyCompiler.Match(header, ignoreCase: true));
        }
    }

    private static void ClearEmpty(AuthorizationResponse response)
    {
        if (response.AllowedUpstreamHeaders.Patterns.Count == 0)
        {
            response.AllowedUpstreamHeaders = null;
        }

        if (response.AllowedClientHeaders.Patterns.Count == 0)
        {
            response.AllowedClientHeaders = null;
        }

        if (response.AllowedClientHeadersOnSuccess.Patterns.Count == 0)
        {
            response.AllowedClientHeadersOnSuccess = null;
        }
    }

    private static bool HeaderName(string name) =>
        name.Length > 0 && name.All(c => c < 127 && (char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)));

    /// <summary>A provider outside the mesh: an IP (static) or a DNS name; HTTP/2 for gRPC.</summary>
    private static Cluster DnsCluster(string host, int port, bool grpc, TranslatorOptions options)
    {
        var name = ClusterName(host, port);
        var cluster = new Cluster
        {
            Name = name,
            Type = IPAddress.TryParse(host, out _) ? Cluster.Types.DiscoveryType.Static : Cluster.Types.DiscoveryType.StrictDns,
            ConnectTimeout = Internal.Envoy.Duration(options.ConnectTimeout),
            LoadAssignment = new ClusterLoadAssignment
            {
                ClusterName = name,
                Endpoints = { new LocalityLbEndpoints { LbEndpoints = { new LbEndpoint { Endpoint = new Endpoint { Address = Internal.Envoy.SocketAddress(host, port) } } } } },
            },
        };
        if (grpc)
        {
            cluster.TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = Internal.Envoy.Pack(new UpstreamHttpOptions
            {
                ExplicitHttpConfig = new UpstreamHttpOptions.Types.ExplicitHttpConfig { Http2ProtocolOptions = new Http2ProtocolOptions() },
            });
        }

        return cluster;
    }

    public static string ClusterName(string host, int port) => $"ext-authz|{host}|{port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>A provider name made safe for filter names, stat prefixes and metadata keys, with a hash so that two names never collide.</summary>
    private static string Slug(string name)
    {
        var safe = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            safe.Append(char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_');
        }

        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(name))
        {
            hash = (hash ^ b) * 16777619u;
        }

        return $"{safe}_{hash:x8}";
    }
}

/// <summary>An ext_authz provider, compiled.</summary>
/// <param name="Name">The provider's name in the mesh config.</param>
/// <param name="Grpc">envoyExtAuthzGrpc (else HTTP).</param>
/// <param name="MeshService">The Service (namespace, name) when <c>service</c> is a mesh Service host; reached like a route backend.</param>
/// <param name="DnsCluster">The cluster used when it is not a mesh Service of the snapshot.</param>
/// <param name="Config">The ext_authz config without its cluster (see <see cref="Filters"/>); null when the provider has problems.</param>
/// <param name="StatPrefix">Stat prefix of its filters; with <c>shadow_effective_policy_id</c>, the metadata key that enables the check.</param>
/// <param name="Problems">What is wrong with the provider; when any, CUSTOM policies naming it deny instead.</param>
internal sealed record CompiledExtAuthzProvider(
    string Name,
    bool Grpc,
    string Host,
    int Port,
    (string Ns, string Name)? MeshService,
    Cluster? DnsCluster,
    ExtAuthz? Config,
    string StatPrefix,
    string Slug,
    IReadOnlyList<string> Problems)
{
    /// <summary>The RBAC filter whose shadow rules select the requests to check (per virtual host and route, like the others).</summary>
    public string ShadowFilterName => $"waypoint.authz.custom.{Slug}";

    public string ExtAuthzFilterName => $"waypoint.authz.ext_authz.{Slug}";

    /// <summary>The chain's two filters: the shadow RBAC (off until a virtual host or route gives it rules), then ext_authz on <paramref name="cluster"/>.</summary>
    public IEnumerable<HttpFilter> Filters(string cluster)
    {
        var config = Config!.Clone();
        if (config.HttpService is not null)
        {
            config.HttpService.ServerUri.Cluster = cluster;
        }
        else
        {
            config.GrpcService.EnvoyGrpc.ClusterName = cluster;
        }

        yield return new HttpFilter { Name = ShadowFilterName, TypedConfig = Internal.Envoy.Pack(new HttpRbac { ShadowRulesStatPrefix = StatPrefix }) };
        yield return new HttpFilter { Name = ExtAuthzFilterName, TypedConfig = Internal.Envoy.Pack(config) };
    }
}
