using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Waypoint.Translator;

/// <summary>Renders Envoy resources as JSON (proto3 JSON mapping, <c>Any</c> fields expanded), as Envoy's config_dump does.</summary>
public static class EnvoyJson
{
    private static readonly Lazy<TypeRegistry> s_registry = new(() =>
    {
        var assembly = typeof(Envoy.Config.Listener.V3.Listener).Assembly;
        var descriptors = new List<MessageDescriptor>();
        foreach (var type in assembly.GetExportedTypes())
        {
            if (type.IsClass && typeof(IMessage).IsAssignableFrom(type)
                && type.GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) is MessageDescriptor descriptor)
            {
                descriptors.Add(descriptor);
            }
        }

        descriptors.Add(Google.Protobuf.WellKnownTypes.StringValue.Descriptor);
        return TypeRegistry.FromMessages(descriptors);
    });

    private static readonly Lazy<JsonFormatter> s_formatter = new(() =>
        new JsonFormatter(JsonFormatter.Settings.Default.WithTypeRegistry(s_registry.Value)));

    /// <summary>Every Envoy message type of the generated API, for <c>Any</c> packing and unpacking.</summary>
    public static TypeRegistry TypeRegistry => s_registry.Value;

    /// <summary>One message as compact JSON.</summary>
    public static string Format(IMessage message) => s_formatter.Value.Format(message);

    /// <summary>One message as a JSON node.</summary>
    public static JsonNode ToNode(IMessage message) => JsonNode.Parse(Format(message))!;

    /// <summary>A waypoint's resources: <c>{version, listeners, routes, clusters, endpoints}</c>.</summary>
    public static JsonObject ToNode(WaypointResources resources)
    {
        ArgumentNullException.ThrowIfNull(resources);
        return new JsonObject
        {
            ["version"] = resources.Version,
            ["listeners"] = new JsonArray(resources.Listeners.Select(l => (JsonNode?)ToNode(l)).ToArray()),
            ["routes"] = new JsonArray(resources.Routes.Select(r => (JsonNode?)ToNode(r)).ToArray()),
            ["clusters"] = new JsonArray(resources.Clusters.Select(c => (JsonNode?)ToNode(c)).ToArray()),
            ["endpoints"] = new JsonArray(resources.Endpoints.Select(e => (JsonNode?)ToNode(e)).ToArray()),
        };
    }

    /// <summary>Indented JSON of a waypoint's resources.</summary>
    public static string Format(WaypointResources resources) =>
        ToNode(resources).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
}
