using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Waypoint.Controller.Client;

namespace Waypoint.Controller.Diagnostics;

/// <summary>What a debug request reads, as a Kubernetes RBAC check: a verb on a resource, in a namespace or cluster-wide.</summary>
public sealed record DebugAccess(string Verb, string Group, string Resource, string? Namespace, string? Name = null)
{
    public override string ToString() => $"{Verb} {Resource}{(Group.Length > 0 ? "." + Group : "")}{(Name is null ? "" : "/" + Name)} in {(Namespace ?? "all namespaces")}";
}

/// <summary>
/// Who may read the debug API. A connection to a loopback address comes from inside the pod (or a
/// <c>kubectl port-forward</c>, for which the API server already checked <c>pods/portforward</c>): allowed, as
/// <c>/debug/xds</c> always was. Anything else must send <c>Authorization: Bearer &lt;token&gt;</c>; the API server
/// says who the token belongs to (TokenReview) and whether that user may do what the request reads
/// (SubjectAccessReview). No token or an unknown one: 401; a known user without the permission: 403.
/// </summary>
/// <remarks>Decisions are kept for 10 s per (token, access), so a CLI's burst of requests costs one review.</remarks>
/// <param name="trustLoopback">False: loopback callers need a token too (tests exercise the token path over loopback).</param>
internal sealed class DebugAccessReviewer(KubernetesApiClient client, TimeProvider timeProvider, ILogger logger, bool trustLoopback = true)
{
    private static readonly TimeSpan DecisionLifetime = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<(string TokenHash, DebugAccess Access), (int Status, DateTimeOffset Expires)> _decisions = new();

    /// <returns>Null when allowed, else the 401/403 result to answer with.</returns>
    public async Task<IResult?> CheckAsync(HttpContext context, DebugAccess access)
    {
        if (trustLoopback && IsLoopback(context.Connection))
        {
            return null;
        }

        var path = context.Request.Path.Value ?? "";
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
        {
            ControllerLog.DebugAccessDenied(logger, path, "no bearer token");
            return Problem(HttpStatusCode.Unauthorized, "Send 'Authorization: Bearer <token>' (a Kubernetes token the API server accepts), or connect through kubectl port-forward.");
        }

        var token = header[7..].Trim();
        var key = (Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token))), access);
        var now = timeProvider.GetUtcNow();
        if (!_decisions.TryGetValue(key, out var decision) || decision.Expires <= now)
        {
            int status;
            try
            {
                status = await ReviewAsync(token, access, context.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is KubernetesApiException or HttpRequestException or TimeoutException or JsonException)
            {
                ControllerLog.DebugAccessReviewFailed(logger, ex);
                return Problem(HttpStatusCode.ServiceUnavailable, "The controller could not check the token with the API server; try again.");
            }

            decision = (status, now + DecisionLifetime);
            _decisions[key] = decision;
            foreach (var (staleKey, stale) in _decisions)
            {
                if (stale.Expires <= now)
                {
                    _decisions.TryRemove(staleKey, out _);
                }
            }
        }

        switch (decision.Status)
        {
            case StatusCodes.Status200OK:
                return null;
            case StatusCodes.Status401Unauthorized:
                ControllerLog.DebugAccessDenied(logger, path, "the API server did not authenticate the token");
                return Problem(HttpStatusCode.Unauthorized, "The API server did not accept the bearer token.");
            default:
                ControllerLog.DebugAccessDenied(logger, path, $"not allowed to {access}");
                return Problem(HttpStatusCode.Forbidden, $"Forbidden: this needs permission to {access}.");
        }
    }

    private async Task<int> ReviewAsync(string token, DebugAccess access, CancellationToken cancellationToken)
    {
        var review = new JsonObject
        {
            ["apiVersion"] = "authentication.k8s.io/v1",
            ["kind"] = "TokenReview",
            ["spec"] = new JsonObject { ["token"] = token },
        };
        var reviewed = await client.WriteAsync<JsonObject>(HttpMethod.Post, "/apis/authentication.k8s.io/v1/tokenreviews", review.ToJsonString(), cancellationToken).ConfigureAwait(false);
        if (reviewed["status"] is not JsonObject status || status["authenticated"]?.GetValue<bool>() != true || status["user"] is not JsonObject user)
        {
            return StatusCodes.Status401Unauthorized;
        }

        var resourceAttributes = new JsonObject
        {
            ["verb"] = access.Verb,
            ["group"] = access.Group,
            ["resource"] = access.Resource,
        };
        if (access.Namespace is not null)
        {
            resourceAttributes["namespace"] = access.Namespace;
        }

        if (access.Name is not null)
        {
            resourceAttributes["name"] = access.Name;
        }

        var spec = new JsonObject
        {
            ["user"] = user["username"]?.DeepClone(),
            ["uid"] = user["uid"]?.DeepClone(),
            ["groups"] = user["groups"]?.DeepClone(),
            ["extra"] = user["extra"]?.DeepClone(),
            ["resourceAttributes"] = resourceAttributes,
        };
        var accessReview = new JsonObject
        {
            ["apiVersion"] = "authorization.k8s.io/v1",
            ["kind"] = "SubjectAccessReview",
            ["spec"] = spec,
        };
        var decided = await client.WriteAsync<JsonObject>(HttpMethod.Post, "/apis/authorization.k8s.io/v1/subjectaccessreviews", accessReview.ToJsonString(), cancellationToken).ConfigureAwait(false);
        return decided["status"]?["allowed"]?.GetValue<bool>() == true ? StatusCodes.Status200OK : StatusCodes.Status403Forbidden;
    }

    internal static bool IsLoopback(ConnectionInfo connection) =>
        connection.LocalIpAddress is { } local && IPAddress.IsLoopback(local.IsIPv4MappedToIPv6 ? local.MapToIPv4() : local);

    private static IResult Problem(HttpStatusCode status, string detail) =>
        Results.Json(new { error = detail }, statusCode: (int)status);
}
