using Microsoft.Extensions.Logging;
using Waypoint.Local;

namespace Waypoint.EndToEnd.Tests.Local;

/// <summary>A running <see cref="LocalRig"/> over a temporary YAML directory, shared by one test class.</summary>
public abstract class RigFixture : IAsyncLifetime
{
    private readonly string _directory = System.IO.Directory.CreateTempSubdirectory("waypoint-e2e-").FullName;

    public LocalRig Rig { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public string Directory => _directory;

    /// <summary>The YAML files of the mesh: file name → content.</summary>
    protected abstract IReadOnlyDictionary<string, string> Files { get; }

    /// <summary>Follow file edits (the rig's watcher) instead of only explicit reloads.</summary>
    protected virtual bool Watch => false;

    public virtual async Task InitializeAsync()
    {
        foreach (var (name, content) in Files)
        {
            await File.WriteAllTextAsync(Path.Combine(_directory, name), content);
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        Rig = await LocalRig.StartAsync(new LocalRigOptions { ConfigDirectory = _directory, Watch = Watch, WatchDebounce = TimeSpan.FromMilliseconds(50) }, LoggerFactory.Create(_ => { }), cts.Token);
        Client = Rig.CreateHttpClient(TimeSpan.FromSeconds(20));
    }

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (Rig is not null)
        {
            await Rig.DisposeAsync();
        }

        try
        {
            System.IO.Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
