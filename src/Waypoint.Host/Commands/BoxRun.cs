using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Waypoint.Box;
using Waypoint.Box.Assets;
using Waypoint.Box.Components;
using Waypoint.Box.Network;

namespace Waypoint.Host.Commands;

/// <summary>
/// What <c>waypoint box</c> and <c>waypoint local</c> share around a <see cref="KubernetesBox"/>: re-executing inside
/// new namespaces, the console logger, a start whose every failure is one line and an exit code, and running until a
/// signal, the launcher's exit or a component's exit.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class BoxRun
{
    /// <summary>Re-executes this command line inside new namespaces (as root, or in a user namespace).</summary>
    public static async Task<int> LaunchAsync(TextWriter output, TextWriter error, CancellationToken stop)
    {
        BoxNamespaceMode mode;
        try
        {
            mode = BoxLauncher.DetectMode();
        }
        catch (BoxNamespaceUnavailableException ex)
        {
            error.WriteLine(ex.Message);
            return 2;
        }

        output.WriteLine(mode == BoxNamespaceMode.Root
            ? "Starting the box in new network and mount namespaces (as root) ..."
            : $"Starting the box in a new user namespace (unprivileged: root only inside it), with new network and mount namespaces ({UnprivilegedSupport.Check().Describe()}) ...");
        output.Flush();
        return await BoxLauncher.RunCurrentProcessAsync(mode, Environment.GetCommandLineArgs().Skip(1), stop).ConfigureAwait(false);
    }

    /// <summary>
    /// Single-line console logs at <paramref name="level"/> (Debug with <c>--verbose</c>); the framework's at Warning;
    /// the start's milestones (<see cref="BoxStartTimeline"/>) always, so a user sees where the start's time goes.
    /// </summary>
    public static ILoggerFactory CreateLoggerFactory(bool verbose, LogLevel level) => LoggerFactory.Create(b => b
        .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
        .SetMinimumLevel(verbose ? LogLevel.Debug : level)
        .AddFilter("Microsoft", LogLevel.Warning)
        .AddFilter("System", LogLevel.Warning)
        .AddFilter(BoxStartTimeline.LoggerCategory, LogLevel.Information));

    /// <summary>The started box, or null and the exit code to return (the reason printed on <paramref name="error"/>).</summary>
    public static async Task<(KubernetesBox? Box, int ExitCode)> StartAsync(BoxOptions options, ILoggerFactory loggerFactory, TextWriter error, CancellationToken stop)
    {
        try
        {
            return (await KubernetesBox.StartAsync(options, loggerFactory, stop).ConfigureAwait(false), 0);
        }
        catch (KubernetesAssetsNotFoundException ex)
        {
            error.WriteLine(ex.Message);
            return (null, 2);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return (null, 130);
        }
#pragma warning disable CA1031 // every start failure is reported as one line, not a crash
        catch (Exception ex)
#pragma warning restore CA1031
        {
            error.WriteLine($"The box failed to start: {ex.Message}");
            return (null, 1);
        }
    }

    /// <summary>
    /// Runs until <paramref name="stop"/> (a signal), the launcher's exit or a component's exit; 1 when a component
    /// exited (named with its log), else 0. <paramref name="what"/> names what stops ("the box", "the local mesh").
    /// </summary>
    public static async Task<int> WaitUntilStoppedAsync(KubernetesBox box, string what, TextWriter output, TextWriter error, CancellationToken stop)
    {
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var launcherGone = BoxLauncher.WaitForLauncherExitAsync(stopWatching.Token);
        var crashed = box.WaitForComponentExitAsync(stopWatching.Token);
        try
        {
            var first = await Task.WhenAny(launcherGone, crashed).ConfigureAwait(false);
            await first.ConfigureAwait(false);
            if (first == crashed)
            {
                var component = await crashed.ConfigureAwait(false);
                error.WriteLine(BoxComponentException.Create(component.Name, component.ExitCode, component.LogPath,
                    $"{component.Name} exited with exit code {component.ExitCode} while the box ran; stopping {what}").Message);
                return 1;
            }

            output.WriteLine($"The launcher is gone; stopping {what} ...");
        }
        catch (OperationCanceledException)
        {
            output.WriteLine($"Stopping {what} ...");
        }
        finally
        {
            await stopWatching.CancelAsync().ConfigureAwait(false);
        }

        return 0;
    }
}
