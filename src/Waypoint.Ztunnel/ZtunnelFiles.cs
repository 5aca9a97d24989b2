namespace Waypoint.Ztunnel;

/// <summary>Files the ztunnel writes: always whole, by rename (Envoy's watched folders see one complete file).</summary>
internal static class ZtunnelFiles
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = Private | UnixFileMode.UserExecute;

    public static void CreatePrivateDirectory(string path)
    {
        Directory.CreateDirectory(path, PrivateDirectory);
        File.SetUnixFileMode(path, PrivateDirectory);
    }

    /// <summary>Writes 0600 then renames over <paramref name="path"/>; returns false (and writes nothing) when the content is already there.</summary>
    public static bool WritePrivate(string path, string content) => Write(path, content, Private);

    public static bool WritePublic(string path, string content) => Write(path, content, Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

    private static bool Write(string path, string content, UnixFileMode mode)
    {
        if (File.Exists(path) && File.ReadAllText(path) == content)
        {
            return false;
        }

        // A dot-file beside the target: Envoy's watched folder ignores nothing, but the rename is what it reacts to.
        var temporary = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + ".tmp");
        using (var stream = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = mode }))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(content);
        }

        File.SetUnixFileMode(temporary, mode);
        File.Move(temporary, path, overwrite: true);
        return true;
    }
}
