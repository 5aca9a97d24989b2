using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Waypoint.TestKit.Pki;

namespace Waypoint.TestKit.Ca;

/// <summary>
/// Steady traffic to a mesh listener: one request per <c>interval</c>, each on a new TLS connection (so each sees the
/// certificate Envoy holds at that moment), recording failures and any served certificate that was not valid when
/// it was presented (a lapse).
/// </summary>
public sealed class MeshRequestProbe : IAsyncDisposable
{
    private readonly IPEndPoint _target;
    private readonly X509Certificate2Collection _roots;
    private readonly X509Certificate2 _clientCertificate;
    private readonly TimeSpan _interval;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _failures = [];
    private readonly List<double> _latencies = [];
    private readonly HashSet<string> _servedSerials = [];
    private Task _loop = Task.CompletedTask;
    private int _succeeded;
    private int _lapses;

    private MeshRequestProbe(IPEndPoint target, X509Certificate2Collection roots, X509Certificate2 clientCertificate, TimeSpan interval)
    {
        _target = target;
        _roots = roots;
        _clientCertificate = clientCertificate;
        _interval = interval;
    }

    public int Succeeded => Volatile.Read(ref _succeeded);

    /// <summary>Served certificates that were expired (or not yet valid) when presented.</summary>
    public int Lapses => Volatile.Read(ref _lapses);

    public IReadOnlyList<string> Failures
    {
        get
        {
            lock (_failures)
            {
                return [.. _failures];
            }
        }
    }

    /// <summary>Distinct certificates Envoy presented.</summary>
    public int ServedCertificates
    {
        get
        {
            lock (_servedSerials)
            {
                return _servedSerials.Count;
            }
        }
    }

    /// <summary>Request latencies (connect + TLS + request), milliseconds.</summary>
    public IReadOnlyList<double> Latencies
    {
        get
        {
            lock (_latencies)
            {
                return [.. _latencies];
            }
        }
    }

    public static MeshRequestProbe Start(IPEndPoint target, X509Certificate2Collection roots, X509Certificate2 clientCertificate, TimeSpan interval)
    {
        var probe = new MeshRequestProbe(target, roots, clientCertificate, interval);
        probe._loop = probe.RunAsync();
        return probe;
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var client = new MeshTlsClient(_target, _roots, _clientCertificate);
                using var response = await client.Http.GetAsync("/probe", _stop.Token).ConfigureAwait(false);
                response.EnsureSuccessStatusCode();
                var now = DateTime.UtcNow;
                var served = client.ServerCertificates[^1];
                lock (_servedSerials)
                {
                    _servedSerials.Add(served.SerialNumber);
                }

                if (now < served.NotBefore.ToUniversalTime() || now >= served.NotAfter.ToUniversalTime())
                {
                    Interlocked.Increment(ref _lapses);
                }

                Interlocked.Increment(ref _succeeded);
                lock (_latencies)
                {
                    _latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // every failure is the probe's finding, recorded for the test or bench to report
            catch (Exception ex)
#pragma warning restore CA1031
            {
                lock (_failures)
                {
                    _failures.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {ex.GetType().Name}: {ex.Message}");
                }
            }

            try
            {
                await Task.Delay(_interval, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
