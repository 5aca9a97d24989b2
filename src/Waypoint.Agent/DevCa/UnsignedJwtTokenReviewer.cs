using System.Text.Json;

namespace Waypoint.Agent.DevCa;

/// <summary>
/// A fake TokenReview for dev and tests: reads the claims of <see cref="DevTokens"/> tokens without any
/// signature, and enforces what the API server would (expiry, audience). Revoked tokens are refused.
/// Never use it where tokens come from untrusted parties.
/// </summary>
public sealed class UnsignedJwtTokenReviewer(TimeProvider? timeProvider = null) : ITokenReviewer
{
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly HashSet<string> _revoked = new(StringComparer.Ordinal);

    /// <summary>Makes later reviews of <paramref name="token"/> fail (a deleted pod or ServiceAccount).</summary>
    public void Revoke(string token)
    {
        lock (_revoked)
        {
            _revoked.Add(token);
        }
    }

    public Task<TokenReviewResult> ReviewAsync(string token, IReadOnlyList<string> audiences, string clusterId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(audiences);
        return Task.FromResult(Review(token, audiences));
    }

    private TokenReviewResult Review(string token, IReadOnlyList<string> audiences)
    {
        lock (_revoked)
        {
            if (_revoked.Contains(token))
            {
                return TokenReviewResult.Failed("token has been invalidated");
            }
        }

        if (DevTokens.TryReadPayload(token) is not { ValueKind: JsonValueKind.Object } claims)
        {
            return TokenReviewResult.Failed("invalid bearer token, token lookup failed");
        }

        if (!claims.TryGetProperty("exp", out var exp) || !exp.TryGetInt64(out var expSeconds) ||
            DateTimeOffset.FromUnixTimeSeconds(expSeconds) <= _time.GetUtcNow())
        {
            return TokenReviewResult.Failed("invalid bearer token, token has expired");
        }

        var tokenAudiences = claims.TryGetProperty("aud", out var aud)
            ? aud.ValueKind == JsonValueKind.Array ? aud.EnumerateArray().Select(a => a.GetString() ?? string.Empty).ToList() : [aud.GetString() ?? string.Empty]
            : [];
        var matched = tokenAudiences.Intersect(audiences, StringComparer.Ordinal).ToList();
        if (matched.Count == 0)
        {
            return TokenReviewResult.Failed("invalid bearer token, token audiences is invalid");
        }

        var subject = claims.TryGetProperty("sub", out var sub) ? sub.GetString() ?? string.Empty : string.Empty;
        var groups = new List<string> { "system:authenticated" };
        var parts = subject.Split(':');
        if (parts.Length == 4 && subject.StartsWith("system:serviceaccount:", StringComparison.Ordinal))
        {
            groups.Add("system:serviceaccounts");
            groups.Add("system:serviceaccounts:" + parts[2]);
        }

        var extra = new Dictionary<string, string>(StringComparer.Ordinal);
        if (claims.TryGetProperty("kubernetes.io", out var k8s) && k8s.ValueKind == JsonValueKind.Object && k8s.TryGetProperty("pod", out var pod))
        {
            extra["authentication.kubernetes.io/pod-name"] = pod.TryGetProperty("name", out var n) ? n.GetString() ?? string.Empty : string.Empty;
            extra["authentication.kubernetes.io/pod-uid"] = pod.TryGetProperty("uid", out var u) ? u.GetString() ?? string.Empty : string.Empty;
        }

        return new TokenReviewResult { Authenticated = true, Username = subject, Groups = groups, Audiences = matched, Extra = extra };
    }
}
