namespace Waypoint.Box.Tests;

/// <summary>
/// Every test that runs a box is in this collection: one box at a time (each holds about 0.85 GB and both cores while
/// it boots). The shared box is a class fixture, so it is gone before the classes that start their own run.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BoxCollectionDefinition
{
    public const string Name = "Box";
}

/// <summary>One box with istiod, shared by the tests of a class; attached through its state file like any client.</summary>
public sealed class SharedBoxFixture : IAsyncLifetime
{
    private BoxProcess? _process;

    public BoxConnection Connection { get; private set; } = null!;

    internal BoxProcess Process => _process!;

    public async Task InitializeAsync()
    {
        _process = BoxProcess.Start();
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
