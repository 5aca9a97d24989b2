using Grpc.Core;

namespace Waypoint.TestKit.Ca;

/// <summary>What a wrong answer from the CA double looks like.</summary>
public enum CaResponseFault
{
    None,

    /// <summary>The leaf names another service account (what istiod does when the token is for another SA).</summary>
    WrongSan,

    /// <summary>The leaf carries a public key other than the CSR's.</summary>
    WrongKey,

    /// <summary>The leaf expired an hour ago.</summary>
    ExpiredLeaf,

    /// <summary>The leaf is signed by a root the bundle does not hold.</summary>
    ForeignRoot,

    /// <summary>Only the leaf, no root bundle.</summary>
    SingleElementChain,

    /// <summary>A valid answer whose last element holds two roots (a root rotation in progress).</summary>
    MultiRootBundle,

    /// <summary>The first element is the CA certificate instead of a leaf.</summary>
    RootFirst,
}

/// <summary>What the double presents in the TLS handshake.</summary>
public enum CaServerCertificateFault
{
    None,

    /// <summary>Signed by the mesh root but for <c>istiod.wrong-namespace.svc</c> only.</summary>
    WrongName,

    /// <summary>istiod's names, signed by a root the client does not trust.</summary>
    ForeignRoot,
}

/// <summary>Switches that make the double misbehave; thread-safe, effective for the next request or handshake.</summary>
public sealed class IstiodCaFaults
{
    private readonly Lock _lock = new();
    private StatusCode? _failWith;
    private string _failMessage = string.Empty;
    private int _failRemaining;

    /// <summary>Delay before answering (honours the caller's deadline).</summary>
    public TimeSpan Delay { get; set; }

    public CaResponseFault Response { get; set; }

    public CaServerCertificateFault ServerCertificate { get; set; }

    /// <summary>Abort the HTTP/2 connection instead of answering.</summary>
    public bool DropConnection { get; set; }

    /// <summary>Fail the next <paramref name="times"/> requests (all, when null) with <paramref name="code"/>.</summary>
    public void FailWith(StatusCode code, string? message = null, int? times = null)
    {
        lock (_lock)
        {
            _failWith = code;
            _failMessage = message ?? $"injected {code}";
            _failRemaining = times ?? int.MaxValue;
        }
    }

    public void Reset()
    {
        lock (_lock)
        {
            _failWith = null;
            _failRemaining = 0;
        }

        Delay = TimeSpan.Zero;
        Response = CaResponseFault.None;
        ServerCertificate = CaServerCertificateFault.None;
        DropConnection = false;
    }

    internal RpcException? TakeFailure()
    {
        lock (_lock)
        {
            if (_failWith is not { } code || _failRemaining <= 0)
            {
                return null;
            }

            _failRemaining--;
            return new RpcException(new Status(code, _failMessage));
        }
    }
}
