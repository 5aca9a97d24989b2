using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s.Models;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Waypoint.Translator.Model;

/// <summary>
/// The part of Istio's mesh config the waypoint reads: <c>extensionProviders</c>, the ext_authz services CUSTOM
/// AuthorizationPolicies name. Parsed from the <c>mesh</c> key (YAML) of the <c>istio</c> ConfigMap in the Istio root
/// namespace.
/// </summary>
/// <remarks>
/// The rest of the mesh config is ignored. A document that does not parse leaves every provider unknown (CUSTOM
/// policies then deny, naming the problem); one provider with a bad field is reported against the policies that name
/// it, never against the others.
/// </remarks>
public sealed record MeshConfig
{
    /// <summary>The ConfigMap the waypoint reads the mesh config from, in the Istio root namespace.</summary>
    public const string ConfigMapName = "istio";

    /// <summary>The ConfigMap key that holds the mesh config (YAML).</summary>
    public const string ConfigMapKey = "mesh";

    /// <summary>Providers by name (the first wins when a name repeats, as each is named in <see cref="Problem"/>).</summary>
    public IReadOnlyDictionary<string, MeshExtensionProvider> ExtensionProviders { get; init; } = new Dictionary<string, MeshExtensionProvider>(StringComparer.Ordinal);

    /// <summary>Why the document as a whole could not be read; null when it parsed.</summary>
    public string? Problem { get; init; }

    /// <summary>Where the config came from, for messages: <c>ConfigMap ns/istio</c>.</summary>
    public string Source { get; init; } = $"ConfigMap {ConfigMapName}";

    /// <summary>Reads the mesh config of <paramref name="configMap"/> (its <c>mesh</c> key; absent means an empty mesh config).</summary>
    public static MeshConfig FromConfigMap(V1ConfigMap configMap)
    {
        ArgumentNullException.ThrowIfNull(configMap);
        var source = $"ConfigMap {configMap.Metadata?.NamespaceProperty}/{configMap.Metadata?.Name}";
        var yaml = configMap.Data?.TryGetValue(ConfigMapKey, out var text) == true ? text : null;
        return Parse(yaml, source);
    }

    /// <summary>Parses mesh config YAML; never throws on bad input (see <see cref="Problem"/>).</summary>
    public static MeshConfig Parse(string? yaml, string source)
    {
        if (string.IsNullOrWhiteSpace(yaml))
        {
            return new MeshConfig { Source = source };
        }

        JsonNode? json;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            json = stream.Documents.Count == 0 ? null : KubernetesObjectLoader.ToJson(stream.Documents[0].RootNode);
        }
        catch (YamlException ex)
        {
            return new MeshConfig { Source = source, Problem = $"{source} key '{ConfigMapKey}' is not valid YAML (line {ex.Start.Line}): {ex.Message}" };
        }

        if (json is not JsonObject root)
        {
            return new MeshConfig { Source = source, Problem = $"{source} key '{ConfigMapKey}' is not a YAML mapping" };
        }

        if (root["extensionProviders"] is not { } providersNode)
        {
            return new MeshConfig { Source = source };
        }

        if (providersNode is not JsonArray providers)
        {
            return new MeshConfig { Source = source, Problem = $"{source}: extensionProviders is not a list" };
        }

        var byName = new Dictionary<string, MeshExtensionProvider>(StringComparer.Ordinal);
        for (var i = 0; i < providers.Count; i++)
        {
            MeshExtensionProvider? provider;
            try
            {
                provider = providers[i]?.Deserialize<MeshExtensionProvider>();
            }
            catch (JsonException ex)
            {
                // A field of the wrong type: the provider is kept by name (if it has one) so its policies name the problem.
                var name = (providers[i] as JsonObject)?["name"] is JsonValue v && v.TryGetValue<string>(out var n) ? n : null;
                provider = name is null ? null : new MeshExtensionProvider { Name = name, ParseProblem = ex.Message };
            }

            if (provider?.Name is { Length: > 0 } providerName)
            {
                provider = provider with { Index = i, Source = source };
                byName.TryAdd(providerName, provider);
            }
        }

        return new MeshConfig { Source = source, ExtensionProviders = byName };
    }
}

/// <summary>One <c>extensionProviders</c> entry. Only the ext_authz kinds are read; any other kind lands in <see cref="Other"/>.</summary>
public sealed record MeshExtensionProvider
{
    [JsonPropertyName("name")]
    public string? Name { get; init; }

    [JsonPropertyName("envoyExtAuthzHttp")]
    public EnvoyExtAuthzHttpProvider? EnvoyExtAuthzHttp { get; init; }

    [JsonPropertyName("envoyExtAuthzGrpc")]
    public EnvoyExtAuthzGrpcProvider? EnvoyExtAuthzGrpc { get; init; }

    /// <summary>Other provider kinds (tracing, logging, ...) and unknown fields.</summary>
    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Other { get; init; }

    /// <summary>Position in <c>extensionProviders</c>, for messages.</summary>
    [JsonIgnore]
    public int Index { get; init; }

    /// <summary>The ConfigMap it came from, for messages.</summary>
    [JsonIgnore]
    public string Source { get; init; } = "";

    /// <summary>Why the entry did not deserialize (a field of the wrong type); null when it did.</summary>
    [JsonIgnore]
    public string? ParseProblem { get; init; }
}

/// <summary>Istio's <c>EnvoyExternalAuthorizationHttpProvider</c>.</summary>
public sealed record EnvoyExtAuthzHttpProvider
{
    [JsonPropertyName("service")]
    public string? Service { get; init; }

    /// <summary>A number or, as protobuf JSON allows, a numeric string.</summary>
    [JsonPropertyName("port")]
    public JsonElement? Port { get; init; }

    [JsonPropertyName("timeout")]
    public string? Timeout { get; init; }

    [JsonPropertyName("pathPrefix")]
    public string? PathPrefix { get; init; }

    [JsonPropertyName("failOpen")]
    public bool? FailOpen { get; init; }

    [JsonPropertyName("statusOnError")]
    public string? StatusOnError { get; init; }

    [JsonPropertyName("includeRequestHeadersInCheck")]
    public IList<string>? IncludeRequestHeadersInCheck { get; init; }

    [JsonPropertyName("includeAdditionalHeadersInCheck")]
    public IDictionary<string, string>? IncludeAdditionalHeadersInCheck { get; init; }

    [JsonPropertyName("headersToUpstreamOnAllow")]
    public IList<string>? HeadersToUpstreamOnAllow { get; init; }

    [JsonPropertyName("headersToDownstreamOnDeny")]
    public IList<string>? HeadersToDownstreamOnDeny { get; init; }

    [JsonPropertyName("headersToDownstreamOnAllow")]
    public IList<string>? HeadersToDownstreamOnAllow { get; init; }

    [JsonPropertyName("includeRequestBodyInCheck")]
    public ExtAuthzRequestBody? IncludeRequestBodyInCheck { get; init; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; init; }
}

/// <summary>Istio's <c>EnvoyExternalAuthorizationGrpcProvider</c>.</summary>
public sealed record EnvoyExtAuthzGrpcProvider
{
    [JsonPropertyName("service")]
    public string? Service { get; init; }

    [JsonPropertyName("port")]
    public JsonElement? Port { get; init; }

    [JsonPropertyName("timeout")]
    public string? Timeout { get; init; }

    [JsonPropertyName("failOpen")]
    public bool? FailOpen { get; init; }

    [JsonPropertyName("statusOnError")]
    public string? StatusOnError { get; init; }

    [JsonPropertyName("includeRequestBodyInCheck")]
    public ExtAuthzRequestBody? IncludeRequestBodyInCheck { get; init; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; init; }
}

/// <summary>Istio's <c>EnvoyExternalAuthorizationRequestBody</c>.</summary>
public sealed record ExtAuthzRequestBody
{
    [JsonPropertyName("maxRequestBytes")]
    public uint? MaxRequestBytes { get; init; }

    [JsonPropertyName("allowPartialMessage")]
    public bool? AllowPartialMessage { get; init; }

    [JsonPropertyName("packAsBytes")]
    public bool? PackAsBytes { get; init; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; init; }
}
