using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace Waypoint.TestKit.Kubernetes;

/// <summary>
/// The API server's TokenReview and SubjectAccessReview for <see cref="FakeKubernetesApiServer"/>: tokens it knows
/// (each a user), and the RBAC grants of each user (verb, group, resource, namespace; namespace null = every namespace).
/// Every review it answers is recorded.
/// </summary>
public sealed class FakeAccessReviews
{
    private readonly ConcurrentDictionary<string, (string User, string[] Groups)> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<(string User, string Verb, string Group, string Resource, string? Namespace)> _grants = [];
    private readonly ConcurrentQueue<JsonObject> _reviews = new();

    public IReadOnlyCollection<JsonObject> Reviews => _reviews.ToArray();

    public void AddToken(string token, string user, params string[] groups) => _tokens[token] = (user, groups);

    public void Grant(string user, string verb, string group, string resource, string? ns = null) => _grants.Add((user, verb, group, resource, ns));

    internal FakeApiResult TokenReview(JsonObject review)
    {
        _reviews.Enqueue((JsonObject)review.DeepClone());
        var token = review["spec"]?["token"]?.GetValue<string>() ?? "";
        var status = _tokens.TryGetValue(token, out var user)
            ? new JsonObject
            {
                ["authenticated"] = true,
                ["user"] = new JsonObject { ["username"] = user.User, ["uid"] = "uid-" + user.User, ["groups"] = new JsonArray(user.Groups.Select(g => (JsonNode)g).ToArray()) },
            }
            : new JsonObject { ["authenticated"] = false, ["error"] = "invalid bearer token" };
        review["status"] = status;
        return FakeApiResult.Created(review);
    }

    internal FakeApiResult SubjectAccessReview(JsonObject review)
    {
        _reviews.Enqueue((JsonObject)review.DeepClone());
        var spec = review["spec"];
        var user = spec?["user"]?.GetValue<string>();
        var attributes = spec?["resourceAttributes"];
        var verb = attributes?["verb"]?.GetValue<string>();
        var group = attributes?["group"]?.GetValue<string>() ?? "";
        var resource = attributes?["resource"]?.GetValue<string>();
        var ns = attributes?["namespace"]?.GetValue<string>();
        var allowed = _grants.Any(g => g.User == user && g.Verb == verb && g.Group == group && g.Resource == resource && (g.Namespace is null || g.Namespace == ns));
        review["status"] = new JsonObject { ["allowed"] = allowed };
        return FakeApiResult.Created(review);
    }
}
