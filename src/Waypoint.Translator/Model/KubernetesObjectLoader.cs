using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using Waypoint.Transformation.Model;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Waypoint.Translator.Model;

/// <summary>A document that could not be loaded.</summary>
/// <param name="Source">File name or caller-supplied label.</param>
/// <param name="Document">Zero-based index of the YAML document within the source.</param>
/// <param name="Message">What is wrong, naming the object when known.</param>
public sealed record LoadError(string Source, int Document, string Message)
{
    public override string ToString() => $"{Source}[{Document}]: {Message}";
}

/// <summary>The objects loaded from YAML, and the documents that were rejected or ignored.</summary>
public sealed record LoadResult(
    IReadOnlyList<IKubernetesObject<V1ObjectMeta>> Objects,
    IReadOnlyList<LoadError> Errors,
    IReadOnlyList<LoadError> Ignored)
{
    public ClusterSnapshot ToSnapshot() => ClusterSnapshot.From(Objects);
}

/// <summary>
/// Loads Kubernetes objects of the kinds the translator reads from multi-document YAML.
/// </summary>
/// <remarks>
/// Each document is converted to JSON and deserialized with KubernetesClient's System.Text.Json settings,
/// the same path the API client uses, so the model types behave identically in both. Unknown fields are
/// ignored; kinds the translator does not read are listed in <see cref="LoadResult.Ignored"/>; a document
/// that fails to parse is reported in <see cref="LoadResult.Errors"/> and the others still load.
/// </remarks>
public static partial class KubernetesObjectLoader
{
    private static readonly Dictionary<string, (Type Type, bool Namespaced)> s_kinds = new(StringComparer.Ordinal)
    {
        [$"{V1GatewayClass.KubeGroup}/{V1GatewayClass.KubeApiVersion}/{V1GatewayClass.KubeKind}"] = (typeof(V1GatewayClass), false),
        [$"{V1Gateway.KubeGroup}/v1/{V1Gateway.KubeKind}"] = (typeof(V1Gateway), true),
        [$"{V1Gateway.KubeGroup}/v1beta1/{V1Gateway.KubeKind}"] = (typeof(V1Gateway), true),
        [$"{V1GatewayClass.KubeGroup}/v1beta1/{V1GatewayClass.KubeKind}"] = (typeof(V1GatewayClass), false),
        [$"{V1HTTPRoute.KubeGroup}/v1/{V1HTTPRoute.KubeKind}"] = (typeof(V1HTTPRoute), true),
        [$"{V1HTTPRoute.KubeGroup}/v1beta1/{V1HTTPRoute.KubeKind}"] = (typeof(V1HTTPRoute), true),
        [$"{V1beta1ReferenceGrant.KubeGroup}/v1beta1/{V1beta1ReferenceGrant.KubeKind}"] = (typeof(V1beta1ReferenceGrant), true),
        [$"{V1beta1ReferenceGrant.KubeGroup}/v1alpha2/{V1beta1ReferenceGrant.KubeKind}"] = (typeof(V1beta1ReferenceGrant), true),
        [$"{V1ServiceEntry.KubeGroup}/v1/{V1ServiceEntry.KubeKind}"] = (typeof(V1ServiceEntry), true),
        [$"{V1ServiceEntry.KubeGroup}/v1beta1/{V1ServiceEntry.KubeKind}"] = (typeof(V1ServiceEntry), true),
        [$"{V1ServiceEntry.KubeGroup}/v1alpha3/{V1ServiceEntry.KubeKind}"] = (typeof(V1ServiceEntry), true),
        [$"{V1alpha1TrafficPolicy.KubeGroup}/{V1alpha1TrafficPolicy.KubeApiVersion}/{V1alpha1TrafficPolicy.KubeKind}"] = (typeof(V1alpha1TrafficPolicy), true),
        [$"{V1alpha1WaypointParameters.KubeGroup}/{V1alpha1WaypointParameters.KubeApiVersion}/{V1alpha1WaypointParameters.KubeKind}"] = (typeof(V1alpha1WaypointParameters), true),
        [$"{V1AuthorizationPolicy.KubeGroup}/v1/{V1AuthorizationPolicy.KubeKind}"] = (typeof(V1AuthorizationPolicy), true),
        [$"{V1AuthorizationPolicy.KubeGroup}/v1beta1/{V1AuthorizationPolicy.KubeKind}"] = (typeof(V1AuthorizationPolicy), true),
        [$"{V1RequestAuthentication.KubeGroup}/v1/{V1RequestAuthentication.KubeKind}"] = (typeof(V1RequestAuthentication), true),
        [$"{V1RequestAuthentication.KubeGroup}/v1beta1/{V1RequestAuthentication.KubeKind}"] = (typeof(V1RequestAuthentication), true),
        ["v1/Service"] = (typeof(V1Service), true),
        ["v1/Namespace"] = (typeof(V1Namespace), false),
        ["v1/ConfigMap"] = (typeof(V1ConfigMap), true), // only the mesh config (named istio) is kept
        ["v1/Pod"] = (typeof(V1Pod), true),
        ["discovery.k8s.io/v1/EndpointSlice"] = (typeof(V1EndpointSlice), true),
    };

    /// <summary>Loads every document of a YAML text.</summary>
    /// <param name="yaml">One or more YAML documents separated by <c>---</c>.</param>
    /// <param name="source">A label for error messages, usually the file name.</param>
    /// <param name="defaultNamespace">Namespace given to namespaced objects that have none, as <c>kubectl apply</c> would.</param>
    public static LoadResult Load(string yaml, string source = "<input>", string defaultNamespace = "default")
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var objects = new List<IKubernetesObject<V1ObjectMeta>>();
        var errors = new List<LoadError>();
        var ignored = new List<LoadError>();
        LoadInto(yaml, source, defaultNamespace, objects, errors, ignored);
        return new LoadResult(objects, errors, ignored);
    }

    /// <summary>Loads every <c>*.yaml</c>/<c>*.yml</c> file under a directory, in ordinal path order.</summary>
    public static LoadResult LoadDirectory(string directory, string defaultNamespace = "default")
    {
        ArgumentNullException.ThrowIfNull(directory);
        var objects = new List<IKubernetesObject<V1ObjectMeta>>();
        var errors = new List<LoadError>();
        var ignored = new List<LoadError>();
        var files = Directory.EnumerateFiles(directory, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal);
        foreach (var file in files)
        {
            LoadInto(File.ReadAllText(file), Path.GetRelativePath(directory, file), defaultNamespace, objects, errors, ignored);
        }

        return new LoadResult(objects, errors, ignored);
    }

    private static void LoadInto(
        string yaml,
        string source,
        string defaultNamespace,
        List<IKubernetesObject<V1ObjectMeta>> objects,
        List<LoadError> errors,
        List<LoadError> ignored)
    {
        var documents = DocumentSeparator().Split(yaml);
        var index = -1;
        foreach (var document in documents)
        {
            index++;
            if (string.IsNullOrWhiteSpace(StripComments(document)))
            {
                continue;
            }

            try
            {
                var stream = new YamlStream();
                stream.Load(new StringReader(document));
                foreach (var doc in stream.Documents)
                {
                    if (doc.RootNode is not YamlMappingNode root)
                    {
                        errors.Add(new LoadError(source, index, "Document is not a mapping."));
                        continue;
                    }

                    LoadObject(ToJson(root)!.AsObject(), source, index, defaultNamespace, objects, errors, ignored);
                }
            }
            catch (YamlException ex)
            {
                errors.Add(new LoadError(source, index, $"Invalid YAML at line {ex.Start.Line}: {ex.Message}"));
            }
        }
    }

    private static void LoadObject(
        JsonObject json,
        string source,
        int index,
        string defaultNamespace,
        List<IKubernetesObject<V1ObjectMeta>> objects,
        List<LoadError> errors,
        List<LoadError> ignored)
    {
        // A List (kubectl get -o yaml) holds items of any kind.
        if (json["kind"]?.GetValueKind() == JsonValueKind.String
            && json["kind"]!.GetValue<string>() == "List"
            && json["items"] is JsonArray items)
        {
            foreach (var item in items)
            {
                if (item is JsonObject itemObject)
                {
                    LoadObject(itemObject, source, index, defaultNamespace, objects, errors, ignored);
                }
            }

            return;
        }

        var apiVersion = json["apiVersion"]?.GetValueKind() == JsonValueKind.String ? json["apiVersion"]!.GetValue<string>() : null;
        var kind = json["kind"]?.GetValueKind() == JsonValueKind.String ? json["kind"]!.GetValue<string>() : null;
        if (apiVersion is null || kind is null)
        {
            errors.Add(new LoadError(source, index, "Object has no apiVersion or kind."));
            return;
        }

        if (!s_kinds.TryGetValue($"{apiVersion}/{kind}", out var entry))
        {
            ignored.Add(new LoadError(source, index, $"Kind '{kind}' of '{apiVersion}' is not read by the translator."));
            return;
        }

        IKubernetesObject<V1ObjectMeta> obj;
        try
        {
            obj = (IKubernetesObject<V1ObjectMeta>)DeserializeAs(json.ToJsonString(), entry.Type);
        }
        catch (JsonException ex)
        {
            errors.Add(new LoadError(source, index, $"{kind} is invalid: {ex.Message}"));
            return;
        }

        if (obj.Metadata is null || string.IsNullOrEmpty(obj.Metadata.Name))
        {
            errors.Add(new LoadError(source, index, $"{kind} has no metadata.name."));
            return;
        }

        if (obj is V1ConfigMap && obj.Metadata.Name != MeshConfig.ConfigMapName)
        {
            ignored.Add(new LoadError(source, index, $"ConfigMap '{obj.Metadata.Name}' is not the mesh config ('{MeshConfig.ConfigMapName}') and is not read by the translator."));
            return;
        }

        if (entry.Namespaced && string.IsNullOrEmpty(obj.Metadata.NamespaceProperty))
        {
            obj.Metadata.NamespaceProperty = defaultNamespace;
        }

        objects.Add(obj);
    }

    private static object DeserializeAs(string json, Type type) =>
        JsonSerializer.Deserialize(json, type, KubernetesJsonOptions.Value)
        ?? throw new JsonException("Document deserialized to null.");

    private static readonly Lazy<JsonSerializerOptions> KubernetesJsonOptions = new(() =>
    {
        JsonSerializerOptions? captured = null;
        KubernetesJson.AddJsonOptions(o => captured = o);
        return captured ?? throw new InvalidOperationException("KubernetesClient did not expose its JSON options.");
    });

    private static string StripComments(string document)
    {
        var sb = new StringBuilder();
        foreach (var line in document.Split('\n'))
        {
            var trimmed = line.TrimStart();
            if (!trimmed.StartsWith('#'))
            {
                sb.Append(trimmed);
            }
        }

        return sb.ToString();
    }

    /// <summary>Converts YAML to JSON with YAML 1.2 core-schema typing of plain scalars.</summary>
    internal static JsonNode? ToJson(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                var obj = new JsonObject();
                foreach (var (key, value) in mapping.Children)
                {
                    obj[((YamlScalarNode)key).Value ?? ""] = ToJson(value);
                }

                return obj;
            case YamlSequenceNode sequence:
                var array = new JsonArray();
                foreach (var child in sequence.Children)
                {
                    array.Add(ToJson(child));
                }

                return array;
            case YamlScalarNode scalar:
                return ScalarToJson(scalar);
            default:
                return null;
        }
    }

    private static JsonValue? ScalarToJson(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? "";
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any))
        {
            return JsonValue.Create(value);
        }

        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }

        if (IntegerPattern().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return JsonValue.Create(integer);
        }

        if (FloatPattern().IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var real))
        {
            return JsonValue.Create(real);
        }

        return JsonValue.Create(value);
    }

    [GeneratedRegex(@"^---[ \t]*(?:#.*)?$", RegexOptions.Multiline)]
    private static partial Regex DocumentSeparator();

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();
}
