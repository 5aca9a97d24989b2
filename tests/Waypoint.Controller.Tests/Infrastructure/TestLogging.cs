using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.Infrastructure;

/// <summary>Logs to the xunit output, and keeps event names for assertions.</summary>
internal sealed class XunitLoggerProvider(ITestOutputHelper? output) : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<(string Category, EventId EventId, string Message)> _entries = new();

    public IReadOnlyCollection<(string Category, EventId EventId, string Message)> Entries => _entries.ToArray();

    public bool HasEvent(string eventName) => _entries.Any(e => e.EventId.Name == eventName);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(XunitLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            provider._entries.Enqueue((category, eventId, message));
            try
            {
                provider.Output(output => output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel,-11} {category}: {message}{(exception is null ? "" : " " + exception.GetType().Name + ": " + exception.Message)}"));
            }
            catch (InvalidOperationException)
            {
                // The test finished; its output helper is gone.
            }
        }
    }

    private void Output(Action<ITestOutputHelper> write)
    {
        if (output is not null)
        {
            write(output);
        }
    }
}
