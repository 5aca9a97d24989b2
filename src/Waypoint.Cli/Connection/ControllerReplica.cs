namespace Waypoint.Cli.Connection;

/// <summary>One controller process the CLI can ask: its name and a client whose base address is its debug API.</summary>
public sealed class ControllerReplica(string name, string where, HttpClient http) : IDisposable
{
    /// <summary>The controller's health port, where its debug API is (<c>--health-address</c>).</summary>
    public const int DebugPort = 15021;

    /// <summary>The pod name (or the URL for <c>--controller-url</c>).</summary>
    public string Name { get; } = name;

    /// <summary>How it is reached, for error messages ("pod waypoint-system/x through the API server's port-forward").</summary>
    public string Where { get; } = where;

    public HttpClient Http { get; } = http;

    public void Dispose() => Http.Dispose();
}

/// <summary>Finds the controller replicas to ask (every replica serves xDS to some Envoys; only one leads).</summary>
public interface IControllerLocator : IDisposable
{
    /// <summary>What is being looked for, for error messages.</summary>
    string Description { get; }

    /// <exception cref="ControllerUnreachableException">No replica can be reached; the message says what failed.</exception>
    Task<IReadOnlyList<ControllerReplica>> LocateAsync(CancellationToken cancellationToken);
}

/// <summary>The controller could not be reached, or refused: the message names what and why, for the user.</summary>
public sealed class ControllerUnreachableException : Exception
{
    public ControllerUnreachableException()
    {
    }

    public ControllerUnreachableException(string message)
        : base(message)
    {
    }

    public ControllerUnreachableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
