using System.Net;
using System.Text;

namespace Waypoint.Local.Topology;

/// <summary>
/// Hands out loopback addresses <c>127.&lt;block&gt;.x.y</c> that depend only on an object's key, so an object keeps its
/// address when others are added or removed (collisions probe to the next free address, in key order).
/// </summary>
internal sealed class AddressAllocator(byte block)
{
    /// <summary>Service VIPs: 127.10.x.y.</summary>
    public const byte ServiceBlock = 10;

    /// <summary>Pod IPs: 127.20.x.y.</summary>
    public const byte PodBlock = 20;

    /// <summary>Waypoint pod IPs: 127.30.x.y.</summary>
    public const byte WaypointBlock = 30;

    private const uint Slots = 254 * 254;

    private readonly HashSet<uint> _taken = [];

    /// <summary>Reserves an address the user chose (any 127/8 address); false if it is already taken.</summary>
    public bool TryReserve(IPAddress address) => _taken.Add(ToUInt(address));

    /// <summary>The address for <paramref name="key"/>: a hash of the key inside the block, probing past taken ones.</summary>
    public IPAddress Allocate(string key)
    {
        var slot = Fnv1a(key) % Slots; // octets 3 and 4 both in 1..254
        for (var probe = 0u; probe < Slots; probe++)
        {
            var index = (slot + probe) % Slots;
            var third = (byte)(1 + (index / 254));
            var fourth = (byte)(1 + (index % 254));
            var candidate = new IPAddress(new byte[] { 127, block, third, fourth });
            if (_taken.Add(ToUInt(candidate)))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"No free address left in 127.{block}.0.0/16.");
    }

    public static bool IsLoopback(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && address.GetAddressBytes()[0] == 127;

    private static uint ToUInt(IPAddress address)
    {
        var b = address.GetAddressBytes();
        return ((uint)b[0] << 24) | ((uint)b[1] << 16) | ((uint)b[2] << 8) | b[3];
    }

    private static uint Fnv1a(string key)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(key))
        {
            hash = (hash ^ b) * 16777619u;
        }

        return hash;
    }
}
