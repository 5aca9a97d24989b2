using System.Runtime.InteropServices;

namespace Waypoint.Host.Commands;

/// <summary>Ctrl-C and SIGTERM as a cancellation, so that a long-running command stops what it started before it exits.</summary>
internal static class ShutdownSignals
{
    /// <summary>Until disposed, SIGINT and SIGTERM cancel <paramref name="stop"/> instead of ending the process.</summary>
    public static IDisposable CancelOn(CancellationTokenSource stop)
    {
        ArgumentNullException.ThrowIfNull(stop);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        return new Registrations(PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal));
    }

    private sealed class Registrations(PosixSignalRegistration interrupt, PosixSignalRegistration terminate) : IDisposable
    {
        public void Dispose()
        {
            interrupt.Dispose();
            terminate.Dispose();
        }
    }
}
