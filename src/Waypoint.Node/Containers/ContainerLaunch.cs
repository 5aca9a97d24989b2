using System.Globalization;
using System.Text;

namespace Waypoint.Node.Containers;

/// <summary>Everything needed to start one container process.</summary>
internal sealed record ContainerLaunch
{
    public required string ContainerId { get; init; }

    /// <summary>The command line: the image's entrypoint (or the pod's command) and args.</summary>
    public required IReadOnlyList<string> Argv { get; init; }

    public required IReadOnlyDictionary<string, string> Environment { get; init; }

    public string WorkingDirectory { get; init; } = string.Empty;

    public IReadOnlyList<ContainerMount> Mounts { get; init; } = [];

    /// <summary>The pod's network namespace file; null for a host-network pod (the box's namespace).</summary>
    public string? NetworkNamespacePath { get; init; }

    /// <summary>A directory of the runtime's own where the mount script stages tmpfs copies before moving them into place.</summary>
    public required string StageDirectory { get; init; }

    public required string LogPath { get; init; }
}

/// <summary>
/// The command line that puts a container process in its pod: <c>setsid</c> (its own process group, so the whole
/// group can be signalled), <c>nsenter --net</c> (the pod's network namespace), <c>unshare --mount --propagation
/// private</c> (a mount namespace of its own) and a small <c>sh</c> script that bind-mounts the kubelet's mounts at
/// their container paths, changes to the working directory and <c>exec</c>s the container command. Every step
/// execs, so the process id started is the container's.
/// </summary>
/// <remarks>
/// A container path whose parent does not exist is never created on the host: the deepest existing ancestor is
/// replaced, inside the private mount namespace only, by a tmpfs that carries bind mounts of all its entries (so the
/// rest of it stays visible), and the missing directories are made there. An ancestor that would be <c>/</c> is refused.
/// The tmpfs is built in the stage directory, reached relative to the script's first working directory, so a mount
/// over one of the stage's ancestors (an emptyDir on <c>/tmp</c>) does not move it.
/// </remarks>
internal static class ContainerCommandLine
{
    public const string Script = """
        set -e
        wp_made='|'
        wp_count=0
        cd -- "$WP_STAGE"
        wp_shadow() {
          wp_count=$((wp_count + 1)); n="s$wp_count"
          mkdir -p -- "$n"; mount -t tmpfs -o mode=755 wp-node "$n"
          for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
            [ -e "$e" ] || [ -L "$e" ] || continue
            b=${e##*/}
            if [ -L "$e" ]; then ln -s -- "$(readlink -- "$e")" "$n/$b"
            elif [ -d "$e" ]; then mkdir -- "$n/$b"; mount --rbind -- "$e" "$n/$b"
            else : > "$n/$b"; mount --bind -- "$e" "$n/$b"; fi
          done
          mount --move -- "$n" "$1"
          wp_made="$wp_made$1|"
        }
        wp_source() {
          if [ -d "$2" ]; then mkdir -- "m$1"; else : > "m$1"; fi
          mount --rbind -- "$2" "m$1"
        }
        wp_mount() {
          s="m$1"
          t=$(realpath -m -- "$2")
          if [ ! -e "$t" ] && [ ! -L "$t" ]; then
            a=$(dirname -- "$t")
            while [ ! -e "$a" ]; do a=$(dirname -- "$a"); done
            case "$wp_made" in
              *"|$a|"*) ;;
              *) if [ "$a" = / ]; then echo "waypoint-node: cannot create $2: its top directory does not exist on this node" >&2; exit 127; fi
                 wp_shadow "$a" ;;
            esac
            if [ -d "$s" ]; then mkdir -p -- "$t"; else mkdir -p -- "$(dirname -- "$t")"; : > "$t"; fi
            d="$t"
            while [ "$d" != "$a" ]; do wp_made="$wp_made$d|"; d=$(dirname -- "$d"); done
          fi
          mount --move -- "$s" "$t"
          if [ "$3" = ro ]; then mount -o remount,bind,ro -- "$t"; fi
        }
        """;

    /// <summary>The script with one <c>wp_mount</c> per mount (parents first), the <c>cd</c> and the <c>exec</c>.</summary>
    public static string BuildScript(ContainerLaunch launch)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var script = new StringBuilder(Script).Append('\n');
        var mounts = launch.Mounts.OrderBy(m => m.ContainerPath.TrimEnd('/').Count(c => c == '/')).ThenBy(m => m.ContainerPath, StringComparer.Ordinal).ToList();

        // Every source is bound into the stage first, while the view is still the box's: a later mount (an emptyDir
        // on /tmp) may hide where the kubelet keeps the next volume.
        for (var i = 0; i < mounts.Count; i++)
        {
            script.Append("wp_source ").Append(i.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(Quote(mounts[i].HostPath)).Append('\n');
        }

        for (var i = 0; i < mounts.Count; i++)
        {
            script.Append("wp_mount ").Append(i.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(Quote(mounts[i].ContainerPath)).Append(mounts[i].ReadOnly ? " ro" : " rw").Append('\n');
        }

        script.Append("cd -- ").Append(Quote(string.IsNullOrEmpty(launch.WorkingDirectory) ? "/" : launch.WorkingDirectory)).Append('\n');

        script.Append("unset WP_STAGE\nexec \"$@\"\n");
        return script.ToString();
    }

    /// <summary>The full argv: the namespace tools, <c>sh -c SCRIPT</c>, then the container command as <c>"$@"</c>.</summary>
    public static IReadOnlyList<string> Build(ContainerLaunch launch, NodeTools tools)
    {
        ArgumentNullException.ThrowIfNull(launch);
        ArgumentNullException.ThrowIfNull(tools);
        var argv = new List<string> { tools.Setsid };
        if (launch.NetworkNamespacePath is { } netns)
        {
            argv.AddRange([tools.Nsenter, $"--net={netns}"]);
        }

        argv.AddRange([tools.Unshare, "--mount", "--propagation", "private", tools.Shell, "-c", BuildScript(launch), "waypoint-container"]);
        argv.AddRange(launch.Argv);
        return argv;
    }

    /// <summary>Single-quotes a word for <c>sh</c>.</summary>
    public static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>Absolute paths of the util-linux tools and shell the runtime uses, found once at start.</summary>
internal sealed record NodeTools(string Setsid, string Nsenter, string Unshare, string Shell)
{
    public static NodeTools Locate() => new(
        CommandRunner.Locate("setsid"), CommandRunner.Locate("nsenter"), CommandRunner.Locate("unshare"), CommandRunner.Locate("sh"));
}
