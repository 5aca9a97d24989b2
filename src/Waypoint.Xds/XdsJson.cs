using System.Reflection;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Waypoint.Xds;

/// <summary>
/// Protobuf JSON for Envoy messages with every compiled Envoy type registered (so <c>Any</c> fields render) and
/// proto field names preserved (snake_case, as Envoy's docs and config_dump use).
/// </summary>
public static class XdsJson
{
    private static readonly Lazy<TypeRegistry> s_registry = new(() =>
    {
        var files = typeof(Envoy.Config.Bootstrap.V3.Bootstrap).Assembly.GetTypes()
            .Where(t => t.IsClass && t.IsAbstract && t.IsSealed && t.Name.EndsWith("Reflection", StringComparison.Ordinal))
            .Select(t => t.GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)?.GetValue(null))
            .OfType<FileDescriptor>()
            .ToArray();
        return TypeRegistry.FromFiles(files);
    });

    private static readonly Lazy<JsonFormatter> s_formatter = new(() =>
        new JsonFormatter(JsonFormatter.Settings.Default.WithTypeRegistry(s_registry.Value).WithPreserveProtoFieldNames(true)));

    private static readonly Lazy<JsonParser> s_parser = new(() =>
        new JsonParser(JsonParser.Settings.Default.WithTypeRegistry(s_registry.Value)));

    /// <summary>All Envoy, xds and udpa message types compiled into Envoy.Api.Protos.</summary>
    public static TypeRegistry TypeRegistry => s_registry.Value;

    public static JsonFormatter Formatter => s_formatter.Value;

    public static JsonParser Parser => s_parser.Value;

    /// <summary>Renders <paramref name="message"/> as compact JSON with snake_case field names.</summary>
    public static string Format(IMessage message) => Formatter.Format(message);

    /// <summary>Parses JSON (snake_case or camelCase) into <typeparamref name="T"/>.</summary>
    public static T Parse<T>(string json)
        where T : IMessage<T>, new() => Parser.Parse<T>(json);
}
