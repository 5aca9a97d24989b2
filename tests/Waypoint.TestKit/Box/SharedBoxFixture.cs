using System.Runtime.Versioning;
using Xunit;
using Waypoint.Box;

namespace Waypoint.TestKit.Box;

/// <summary>One box with istiod, shared by the tests of a class; attached through its state file like any client.</summary>
[SupportedOSPlatform("linux")]
public class SharedBoxFixture : IAsyncLifetime
{
    private BoxProcess? _process;

    public BoxConnection Connection { get; private set; } = null!;

    public BoxProcess Process => _process!;

    /// <summary>The arguments <c>waypoint box</c> gets (e.g. <c>--no-istiod</c>).</summary>
    protected virtual string[] Arguments => [];

    public virtual async Task InitializeAsync()
    {
        _process = BoxProcess.Start(Arguments);
        await _process.WaitReadyAsync();
        Connection = await KubernetesBox.AttachAsync(_process.StatePath, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        Connection?.Dispose();
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }
}
