using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Waypoint.Local.Configuration;

/// <summary>
/// Watches a configuration directory and calls a reload after edits settle (editors write a file in several steps).
/// Reloads never overlap; a burst of edits during a reload gives one more reload.
/// </summary>
internal sealed class ConfigDirectoryWatcher : IDisposable
{
    private readonly FileSystemWatcher _watcher;
    private readonly Channel<bool> _changes = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;

    public ConfigDirectoryWatcher(string directory, TimeSpan debounce, Func<CancellationToken, Task> reload, ILogger logger)
    {
        _watcher = new FileSystemWatcher(directory)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.DirectoryName,
        };
        _watcher.Changed += OnChange;
        _watcher.Created += OnChange;
        _watcher.Deleted += OnChange;
        _watcher.Renamed += OnChange;
        _watcher.EnableRaisingEvents = true;
        _loop = RunAsync(debounce, reload, logger, _stopping.Token);
    }

    public void Dispose()
    {
        _watcher.Dispose();
        _stopping.Cancel();
        _changes.Writer.TryComplete();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // The loop only ends by cancellation.
        }

        _stopping.Dispose();
    }

    private void OnChange(object sender, FileSystemEventArgs e)
    {
        if (e.Name is { } name && (name.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".yml", StringComparison.OrdinalIgnoreCase) || e is RenamedEventArgs))
        {
            _changes.Writer.TryWrite(true);
        }
    }

    private async Task RunAsync(TimeSpan debounce, Func<CancellationToken, Task> reload, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            while (await _changes.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // Let the burst settle: keep waiting while changes keep arriving.
                do
                {
                    _changes.Reader.TryRead(out _);
                    await Task.Delay(debounce, cancellationToken).ConfigureAwait(false);
                }
                while (_changes.Reader.TryPeek(out _));

                try
                {
                    await reload(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    ConfigDirectoryWatcherLog.ReloadFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }
}

internal static partial class ConfigDirectoryWatcherLog
{
    [LoggerMessage(Level = LogLevel.Error, EventId = 1, EventName = "ReloadFailed", Message = "Reloading the configuration failed; the previous configuration keeps serving.")]
    public static partial void ReloadFailed(ILogger logger, Exception exception);
}
