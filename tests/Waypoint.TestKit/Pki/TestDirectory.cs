namespace Waypoint.TestKit.Pki;

/// <summary>
/// A private temporary directory (mode 0700) with a short path, so Unix socket paths inside it stay under the
/// 107-byte limit. Deleted on dispose.
/// </summary>
public sealed class TestDirectory : IDisposable
{
    public TestDirectory(string prefix = "wp-")
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
        if (!OperatingSystem.IsWindows())
        {
            System.IO.File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process still holds a file; the temp directory is harmless.
        }
    }
}
