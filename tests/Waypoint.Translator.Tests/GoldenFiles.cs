using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Tests;

/// <summary>
/// Golden cases: <c>testdata/&lt;case&gt;/input.yaml</c> → <c>output.json</c> (Envoy resources per waypoint plus statuses).
/// Regenerate with <c>WAYPOINT_UPDATE_GOLDEN=1 dotnet test tests/Waypoint.Translator.Tests --filter GoldenTests</c>.
/// </summary>
public static class GoldenFiles
{
    public static string Root { get; } = Path.Combine(SourceDirectory(), "testdata");

    public static bool Update => Environment.GetEnvironmentVariable("WAYPOINT_UPDATE_GOLDEN") == "1";

    public static IEnumerable<string> Cases() =>
        Directory.EnumerateDirectories(Root).Select(Path.GetFileName).Order(StringComparer.Ordinal)!;

    public static (LoadResult Load, TranslationResult Result) Translate(string name, WaypointTranslator? translator = null)
    {
        var load = KubernetesObjectLoader.Load(File.ReadAllText(Path.Combine(Root, name, "input.yaml")), "input.yaml");
        var result = (translator ?? new WaypointTranslator()).Translate(load.ToSnapshot());
        return (load, result);
    }

    /// <summary>The golden document: xDS per waypoint, Gateway and HTTPRoute statuses, and loader errors.</summary>
    public static JsonObject Render(LoadResult load, TranslationResult result)
    {
        var waypoints = new JsonObject();
        foreach (var (key, resources) in result.Waypoints)
        {
            waypoints[key.ToString()] = EnvoyJson.ToNode(resources);
        }

        var document = new JsonObject
        {
            ["waypoints"] = waypoints,
            ["gateways"] = JsonNode.Parse(KubernetesJson.Serialize(result.Gateways.Select(g => new
            {
                key = g.Key.ToString(),
                observedGeneration = g.ObservedGeneration,
                conditions = g.Conditions,
                listeners = g.Listeners,
                boundServices = g.BoundServices,
            }))),
            ["routes"] = JsonNode.Parse(KubernetesJson.Serialize(result.Routes)),
            ["loadErrors"] = new JsonArray(load.Errors.Select(e => (JsonNode?)JsonValue.Create(e.ToString())).ToArray()),
        };
        if (result.Policies.Count > 0)
        {
            document["policies"] = JsonNode.Parse(KubernetesJson.Serialize(result.Policies));
        }

        if (result.AuthorizationPolicies.Count > 0)
        {
            document["authorizationPolicies"] = JsonNode.Parse(KubernetesJson.Serialize(result.AuthorizationPolicies));
        }

        if (result.RequestAuthentications.Count > 0)
        {
            document["requestAuthentications"] = JsonNode.Parse(KubernetesJson.Serialize(result.RequestAuthentications));
        }

        return document;
    }

    public static string ToText(JsonNode node) => node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";

    // Deterministic (CI) builds map source paths to "/_/"; then the test project is found from the repository root.
    private static string SourceDirectory([CallerFilePath] string path = "") =>
        Path.GetDirectoryName(path) is { } directory && Directory.Exists(directory)
            ? directory
            : Path.Combine(Waypoint.TestKit.Envoy.EnvoyBinary.FindRepositoryRoot() ?? throw new InvalidOperationException("Waypoint.sln not found above the test binaries."), "tests", "Waypoint.Translator.Tests");
}
