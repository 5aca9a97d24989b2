using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Waypoint.Agent.Ca;
using Waypoint.Agent.Certificates;
using Waypoint.Agent.DevCa;
using Waypoint.TestKit.Pki;

namespace Waypoint.Agent.Tests;

/// <summary>Rotation and retry timing under fake time: no sleeps, every delay observed through the armed timer.</summary>
public sealed class WorkloadCertificateManagerTests : IAsyncDisposable
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(20);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly DevCertificateAuthority _ca;
    private readonly ScriptedCa _client;
    private readonly TestDirectory _directory = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeLogCollector _logs = new();
    private readonly Channel<DateTimeOffset> _scheduled = Channel.CreateUnbounded<DateTimeOffset>();
    private readonly CancellationTokenSource _stop = new();
    private readonly AgentOptions _options;
    private readonly WorkloadCertificateManager _manager;
    private readonly MetricCollector<long> _errors;
    private Task? _loop;

    public WorkloadCertificateManagerTests()
    {
        _ca = DevCertificateAuthority.Create(timeProvider: _time);
        _options = new AgentOptions
        {
            Namespace = "apps",
            ServiceAccount = "waypoint",
            CertificateTtl = TimeSpan.FromHours(24),
            RootCertPath = _directory.File("root-cert.pem"),
            InitialRetryDelay = TimeSpan.FromSeconds(1),
            MaxRetryDelay = TimeSpan.FromSeconds(8),
            RejectedRetryDelay = TimeSpan.FromMinutes(5),
        };
        File.WriteAllText(_options.RootCertPath, _ca.RootCertificatePem);
        _client = new ScriptedCa(_ca, _options.ExpectedIdentity);
        var meterFactory = _services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        _errors = new MetricCollector<long>(meterFactory, AgentMetrics.MeterName, "waypoint.agent.ca.errors");
        _manager = new WorkloadCertificateManager(Microsoft.Extensions.Options.Options.Create(_options), _client, _time, new AgentMetrics(meterFactory), new FakeLogger<WorkloadCertificateManager>(_logs));
        _manager.AttemptScheduled += at => _scheduled.Writer.TryWrite(at);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop.WaitAsync(s_wait);
        }

        _stop.Dispose();
        _errors.Dispose();
        await _services.DisposeAsync();
        _ca.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public async Task Rotates_At_About_Half_The_Lifetime_And_Notifies()
    {
        var changes = new List<WorkloadCertificate>();
        _manager.CertificateChanged += (_, c) => changes.Add(c);

        var firstRotation = await StartAsync();
        var first = _manager.Current!;
        var half = first.ReceivedAt + ((first.NotAfter - first.ReceivedAt) / 2);
        Assert.InRange(firstRotation, half - TimeSpan.FromMinutes(30), half + TimeSpan.FromMinutes(30));
        Assert.Equal(firstRotation, _manager.NextRotation);

        _time.Advance(firstRotation - _time.GetUtcNow() - TimeSpan.FromSeconds(1));
        Assert.Equal(1, _client.Calls); // not yet
        _time.Advance(TimeSpan.FromSeconds(1));
        await NextScheduledAsync();

        Assert.Equal(2, _client.Calls);
        Assert.NotEqual(first.SerialNumber, _manager.Current!.SerialNumber);
        Assert.Equal([first, _manager.Current], changes);
        Assert.Equal(2, _manager.Generation);
    }

    [Fact]
    public async Task Transient_Errors_Back_Off_Exponentially_Up_To_The_Cap_Then_Recover()
    {
        _client.FailNext(StatusCode.Unavailable, times: 6);
        var delays = new List<TimeSpan>();
        var next = await StartAsync();
        for (var i = 0; i < 6; i++)
        {
            delays.Add(next - _time.GetUtcNow());
            _time.Advance(next - _time.GetUtcNow());
            next = await NextScheduledAsync();
        }

        // 1s, 2s, 4s, 8s, 8s, 8s with ±20% jitter, capped at 8s.
        double[] expected = [1, 2, 4, 8, 8, 8];
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.InRange(delays[i].TotalSeconds, Math.Min(expected[i] * 0.8, 8), Math.Min(expected[i] * 1.2, 8));
        }

        Assert.NotNull(_manager.Current);
        Assert.Equal(7, _client.Calls);
        Assert.Equal(6, _errors.GetMeasurementSnapshot().Where(m => (string?)m.Tags["code"] == "Unavailable").EvaluateAsCounter());
        Assert.Contains(_logs.GetSnapshot(), r => r.Id.Name == "CertificateTransientFailure");
    }

    [Theory]
    [InlineData(StatusCode.Unauthenticated)]
    [InlineData(StatusCode.InvalidArgument)]
    public async Task Rejections_Are_Logged_And_Retried_Slowly_Never_In_A_Tight_Loop(StatusCode code)
    {
        _client.FailNext(code, times: int.MaxValue);
        var next = await StartAsync();

        Assert.InRange(next - _time.GetUtcNow(), TimeSpan.FromMinutes(4.5), TimeSpan.FromMinutes(5.5));
        _time.Advance(TimeSpan.FromMinutes(4.4));
        Assert.Equal(1, _client.Calls);
        _time.Advance(next - _time.GetUtcNow());
        await NextScheduledAsync();
        Assert.Equal(2, _client.Calls);
        Assert.Null(_manager.Current);
        Assert.False(_manager.IsReady);
        Assert.Contains(code.ToString(), _manager.LastError, StringComparison.Ordinal);
        var rejected = Assert.Single(_logs.GetSnapshot().Where(r => r.Id.Name == "CertificateRejected").Take(1));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Error, rejected.Level);
    }

    [Fact]
    public async Task Old_Certificate_Keeps_Serving_Through_Failures_Until_It_Expires()
    {
        _options.CertificateTtl = TimeSpan.FromHours(1);
        var rotation = await StartAsync();
        var good = _manager.Current!;
        _client.FailNext(StatusCode.Unavailable, times: int.MaxValue);

        _time.Advance(rotation - _time.GetUtcNow());
        var next = await NextScheduledAsync();
        while (_time.GetUtcNow() < good.NotAfter - TimeSpan.FromSeconds(10))
        {
            Assert.Same(good, _manager.Current);
            Assert.True(_manager.IsReady);
            _time.Advance(next - _time.GetUtcNow());
            next = await NextScheduledAsync();
        }

        _time.Advance(good.NotAfter - _time.GetUtcNow() + TimeSpan.FromSeconds(1));
        Assert.False(_manager.IsReady);
        _client.FailNext(null, 0);

        // The jump past NotAfter may or may not have fired the armed retry; follow the schedule until an attempt succeeds.
        for (var i = 0; i < 5 && ReferenceEquals(_manager.Current, good); i++)
        {
            if (next > _time.GetUtcNow())
            {
                _time.Advance(next - _time.GetUtcNow());
            }

            next = await NextScheduledAsync();
        }

        Assert.NotSame(good, _manager.Current);
        Assert.True(_manager.IsReady);
    }

    [Fact]
    public async Task Invalid_Answers_Are_Not_Installed_And_Retried_Slowly()
    {
        _client.Identity = "spiffe://cluster.local/ns/apps/sa/intruder";
        var next = await StartAsync();
        Assert.Null(_manager.Current);
        Assert.InRange(next - _time.GetUtcNow(), TimeSpan.FromMinutes(4.5), TimeSpan.FromMinutes(5.5));
        Assert.Equal(1, _errors.GetMeasurementSnapshot().Where(m => (string?)m.Tags["code"] == "invalid_response").EvaluateAsCounter());
    }

    private async Task<DateTimeOffset> StartAsync()
    {
        _loop = _manager.RunAsync(_stop.Token);
        return await NextScheduledAsync();
    }

    private async Task<DateTimeOffset> NextScheduledAsync() => await _scheduled.Reader.ReadAsync().AsTask().WaitAsync(s_wait);

    /// <summary>Signs with a dev CA in-process, or fails as told.</summary>
    private sealed class ScriptedCa(DevCertificateAuthority ca, string identity) : ICertificateAuthorityClient
    {
        private StatusCode? _failWith;
        private int _failTimes;
        private int _calls;

        public string Identity { get; set; } = identity;

        public int Calls => Volatile.Read(ref _calls);

        public void FailNext(StatusCode? code, int times)
        {
            _failWith = code;
            _failTimes = times;
        }

        public Task<IReadOnlyList<string>> CreateCertificateAsync(string csrPem, TimeSpan ttl, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            if (_failWith is { } code && _failTimes > 0)
            {
                _failTimes--;
                throw new WorkloadCertificateException(CertificateFailureKind.CaError, $"scripted {code}", code);
            }

            return Task.FromResult(ca.Sign(csrPem, (long)ttl.TotalSeconds, Identity));
        }
    }
}
