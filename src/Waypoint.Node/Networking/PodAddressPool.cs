using System.Buffers.Binary;
using System.Net;

namespace Waypoint.Node.Networking;

/// <summary>
/// Hands out pod IPs from the pod CIDR, lowest free first, from a first address up (10.244.1.2: the 10.244.0.x block
/// is left to the node, 10.244.0.2). Addresses ending in .0 or .255 are skipped.
/// </summary>
internal sealed class PodAddressPool
{
    private readonly uint _first;
    private readonly uint _last;
    private readonly HashSet<uint> _used = [];
    private readonly Lock _lock = new();

    public PodAddressPool(IPAddress first, IPAddress network, int prefixLength)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefixLength, 8);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 30);
        var mask = uint.MaxValue << (32 - prefixLength);
        var start = ToUInt(network) & mask;
        _first = ToUInt(first);
        _last = start | ~mask;
        if ((_first & mask) != start)
        {
            throw new ArgumentException($"The first pod address {first} is outside {network}/{prefixLength}.", nameof(first));
        }
    }

    public IPAddress Allocate()
    {
        lock (_lock)
        {
            for (var candidate = _first; candidate < _last; candidate++)
            {
                var low = candidate & 0xff;
                if (low is 0 or 255 || _used.Contains(candidate))
                {
                    continue;
                }

                _used.Add(candidate);
                return FromUInt(candidate);
            }
        }

        throw new InvalidOperationException("The pod address range is exhausted.");
    }

    public void Release(IPAddress address)
    {
        lock (_lock)
        {
            _used.Remove(ToUInt(address));
        }
    }

    private static uint ToUInt(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    private static IPAddress FromUInt(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
