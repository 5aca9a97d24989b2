using System.Globalization;
using System.Text;

namespace Waypoint.Node.Containers;

/// <summary>
/// Writes a container's output in the CRI log format the kubelet reads for <c>kubectl logs</c>:
/// <c>2026-12-01T21:00:00.000000000Z stdout F the line</c>, one full line (<c>F</c>) per record.
/// </summary>
internal sealed class CriLogWriter : IDisposable
{
    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private FileStream? _file;

    public CriLogWriter(string path, TimeProvider time)
    {
        _path = path;
        _time = time;
        Open();
    }

    public void Write(string stream, string line)
    {
        var record = Encoding.UTF8.GetBytes(Format(_time.GetUtcNow(), stream, line));
        lock (_lock)
        {
            if (_file is null)
            {
                return;
            }

            _file.Write(record);
            _file.Flush();
        }
    }

    /// <summary>Starts a new file at the same path (the kubelet rotated the old one away).</summary>
    public void Reopen()
    {
        lock (_lock)
        {
            _file?.Dispose();
            _file = null;
            Open();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _file?.Dispose();
            _file = null;
        }
    }

    /// <summary>One record: RFC 3339 time with nanoseconds, the stream, the full-line tag, the line.</summary>
    public static string Format(DateTimeOffset time, string stream, string line) =>
        string.Create(CultureInfo.InvariantCulture, $"{time.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.fffffff}00Z {stream} F {line}\n");

    private void Open()
    {
        if (string.IsNullOrEmpty(_path))
        {
            return;
        }

        var directory = Path.GetDirectoryName(_path);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        _file = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
    }
}
