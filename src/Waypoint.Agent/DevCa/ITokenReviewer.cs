namespace Waypoint.Agent.DevCa;

/// <summary>
/// The Kubernetes TokenReview istiod performs (security/pkg/k8s/tokenreview): the reviewer (the API server)
/// enforces signature, expiry, audience and pod binding. Pluggable so a dev CA can trust its own tokens.
/// </summary>
public interface ITokenReviewer
{
    /// <param name="token">The bearer token. Implementations must never log it.</param>
    /// <param name="audiences">The audiences the token must carry one of (istiod: <c>istio-ca</c>).</param>
    /// <param name="clusterId">The cluster whose API server reviews the token (already checked to be known).</param>
    Task<TokenReviewResult> ReviewAsync(string token, IReadOnlyList<string> audiences, string clusterId, CancellationToken cancellationToken);
}

/// <summary>A TokenReview's status.</summary>
public sealed record TokenReviewResult
{
    public bool Authenticated { get; init; }

    /// <summary>Non-empty when the review failed.</summary>
    public string? Error { get; init; }

    /// <summary><c>system:serviceaccount:&lt;ns&gt;:&lt;sa&gt;</c> for ServiceAccount tokens.</summary>
    public string Username { get; init; } = string.Empty;

    public IReadOnlyList<string> Groups { get; init; } = [];

    public IReadOnlyList<string> Audiences { get; init; } = [];

    /// <summary>e.g. <c>authentication.kubernetes.io/pod-name</c>, <c>…/pod-uid</c>.</summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = new Dictionary<string, string>();

    public static TokenReviewResult Failed(string error) => new() { Authenticated = false, Error = error };
}
