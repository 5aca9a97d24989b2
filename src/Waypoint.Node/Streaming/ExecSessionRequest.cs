namespace Waypoint.Node.Streaming;

/// <summary>One streaming exec the kubelet asked for (CRI <c>Exec</c>): what to run where, and which streams the client wants.</summary>
internal sealed record ExecSessionRequest(string ContainerId, IReadOnlyList<string> Command, bool Stdin, bool Stdout, bool Stderr);
