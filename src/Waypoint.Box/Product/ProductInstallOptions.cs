namespace Waypoint.Box.Product;

/// <summary>What <see cref="ProductInstaller"/> applies and which Deployment it waits for.</summary>
public sealed record ProductInstallOptions
{
    /// <summary>The folder of the shipped manifests (<c>manifests/install</c>): every <c>*.yaml</c> in it, recursively.</summary>
    public required string ManifestDirectory { get; init; }

    /// <summary>The field manager of the apply (and the <c>waypoint.dev/applied-by</c> label's value).</summary>
    public string FieldManager { get; init; } = "waypoint-install";

    public string ControllerNamespace { get; init; } = "waypoint-system";

    public string ControllerDeployment { get; init; } = "waypoint-controller";

    /// <summary>How long the controller Deployment may take to report <c>Available=True</c>.</summary>
    public TimeSpan AvailableTimeout { get; init; } = TimeSpan.FromMinutes(2);

    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);
}
