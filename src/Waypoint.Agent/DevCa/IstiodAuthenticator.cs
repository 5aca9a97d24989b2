using Grpc.Core;

namespace Waypoint.Agent.DevCa;

/// <summary>
/// istiod's KubeJWTAuthenticator (security/pkg/server/ca/authenticate/kubeauth): first <c>authorization: Bearer</c>
/// value, <c>clusterid</c> must name a known cluster (empty = the local one), TokenReview with audience
/// <c>istio-ca</c>, then <c>system:serviceaccount:&lt;ns&gt;:&lt;sa&gt;</c> in group <c>system:serviceaccounts</c>
/// becomes <c>spiffe://&lt;td&gt;/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>. Every failure is Unauthenticated, as in istiod.
/// </summary>
public sealed class IstiodAuthenticator(ITokenReviewer reviewer, string trustDomain, string clusterId = "Kubernetes", IEnumerable<string>? clusterAliases = null)
{
    public const string AuthenticateFailure = "request authenticate failure";
    private static readonly string[] s_audiences = ["istio-ca"];
    private readonly HashSet<string> _knownClusters = new([clusterId, .. clusterAliases ?? []], StringComparer.Ordinal);

    public string TrustDomain { get; } = trustDomain;

    /// <summary>The SPIFFE identity of the caller, or an Unauthenticated <see cref="RpcException"/>.</summary>
    public async Task<string> AuthenticateAsync(Metadata headers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var token = headers.Where(h => h.Key == "authorization" && !h.IsBinary)
            .Select(h => h.Value)
            .FirstOrDefault(v => v.StartsWith("Bearer ", StringComparison.Ordinal))?["Bearer ".Length..];
        if (string.IsNullOrEmpty(token))
        {
            throw Unauthenticated("no bearer token in the authorization header");
        }

        var cluster = headers.Where(h => h.Key == "clusterid").Select(h => h.Value).ToList();
        var requestedCluster = cluster.Count == 1 ? cluster[0] : string.Empty;
        if (requestedCluster.Length > 0 && !_knownClusters.Contains(requestedCluster))
        {
            throw Unauthenticated($"client claims to be in cluster \"{requestedCluster}\", but we only know about local cluster and remote clusters");
        }

        var review = await reviewer.ReviewAsync(token, s_audiences, requestedCluster.Length > 0 ? requestedCluster : clusterId, cancellationToken).ConfigureAwait(false);
        if (!review.Authenticated || !string.IsNullOrEmpty(review.Error))
        {
            throw Unauthenticated($"the token is not authenticated: {review.Error}");
        }

        if (!review.Groups.Contains("system:serviceaccounts", StringComparer.Ordinal))
        {
            throw Unauthenticated("the token is not a service account");
        }

        var parts = review.Username.Split(':');
        if (parts.Length != 4 || parts[0] != "system" || parts[1] != "serviceaccount" || parts[2].Length == 0 || parts[3].Length == 0)
        {
            throw Unauthenticated("invalid username field in the token review result");
        }

        return SpiffeId.ForServiceAccount(TrustDomain.Replace('@', '.'), parts[2], parts[3]);
    }

    private static RpcException Unauthenticated(string why) =>
        // istiod puts only the generic message on the wire; the reason is for its own log.
        new(new Status(StatusCode.Unauthenticated, $"{AuthenticateFailure}: {why}"));
}
