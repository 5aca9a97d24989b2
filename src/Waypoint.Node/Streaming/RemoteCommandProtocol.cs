using System.Globalization;
using System.Text.Json.Nodes;

namespace Waypoint.Node.Streaming;

/// <summary>
/// The WebSocket form of Kubernetes' remote command protocol (<c>v4.channel.k8s.io</c>, <c>v5.channel.k8s.io</c>):
/// every binary message starts with its channel byte — 0 stdin, 1 stdout, 2 stderr, 3 the final status (a JSON
/// <c>metav1.Status</c>), 4 terminal resize; v5 adds 255, "close the channel in the next byte" (the client's end of stdin).
/// </summary>
internal static class RemoteCommandProtocol
{
    public const string V5 = "v5.channel.k8s.io";
    public const string V4 = "v4.channel.k8s.io";

    public const byte StdinChannel = 0;
    public const byte StdoutChannel = 1;
    public const byte StderrChannel = 2;
    public const byte ErrorChannel = 3;
    public const byte ResizeChannel = 4;
    public const byte CloseChannel = 255;

    /// <summary>Ours, most preferred first: v5 only adds the close signal, so a client that offers both gets it.</summary>
    public static readonly IReadOnlyList<string> Supported = [V5, V4];

    /// <summary>The protocol to answer with, from the client's offer (<c>Sec-WebSocket-Protocol</c>); null when none is ours.</summary>
    public static string? Negotiate(IEnumerable<string> offered)
    {
        var offer = offered.SelectMany(o => o.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToHashSet(StringComparer.Ordinal);
        return Supported.FirstOrDefault(offer.Contains);
    }

    /// <summary>The status a successful command ends with.</summary>
    public static string Success() => """{"metadata":{},"status":"Success"}""";

    /// <summary>The status of a command that exited non-zero, as the kubelet's own streaming server words it (clients read the code from it).</summary>
    public static string NonZeroExit(int exitCode, IReadOnlyList<string> command)
    {
        var code = exitCode.ToString(CultureInfo.InvariantCulture);
        return new JsonObject
        {
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = $"command terminated with non-zero exit code: command {string.Join(' ', command)} exited with {code}",
            ["reason"] = "NonZeroExitCode",
            ["details"] = new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["reason"] = "ExitCode", ["message"] = code }) },
        }.ToJsonString();
    }

    /// <summary>The status of a command that could not be run at all.</summary>
    public static string InternalError(string message) => new JsonObject
    {
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = "InternalError",
        ["code"] = 500,
    }.ToJsonString();
}
