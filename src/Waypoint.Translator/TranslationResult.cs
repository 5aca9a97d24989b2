using System.Buffers.Binary;
using System.Security.Cryptography;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Google.Protobuf;
using k8s.Models;
using Waypoint.Transformation.Model;
using Waypoint.Translator.Model;

namespace Waypoint.Translator;

/// <summary>Everything one translation produced: Envoy resources per waypoint and the statuses to write.</summary>
/// <remarks>The result and the protos in it are shared with later results (incremental translation); never mutate them.</remarks>
public sealed record TranslationResult
{
    public static TranslationResult Empty { get; } = new();

    /// <summary>Envoy resources of each accepted waypoint, ordered by key.</summary>
    public IReadOnlyDictionary<WaypointKey, WaypointResources> Waypoints { get; init; } = new Dictionary<WaypointKey, WaypointResources>();

    /// <summary>Status of every GatewayClass that names our controller, ordered by name.</summary>
    public IReadOnlyList<GatewayClassStatusResult> GatewayClasses { get; init; } = [];

    /// <summary>Status of every Gateway of our class, ordered by key.</summary>
    public IReadOnlyList<GatewayStatusResult> Gateways { get; init; } = [];

    /// <summary>Status entries of every HTTPRoute that has at least one parent we manage, ordered by namespace/name.</summary>
    public IReadOnlyList<RouteStatusResult> Routes { get; init; } = [];

    /// <summary>
    /// Waypoints whose translation failed: each keeps the resources of its last good translation (absent if it never
    /// had one); the others are unaffected. Translate again to retry.
    /// </summary>
    public IReadOnlyList<WaypointTranslationError> Errors { get; init; } = [];

    /// <summary>Status of every TrafficPolicy that targets a waypoint Gateway or an HTTPRoute we manage, ordered by namespace/name.</summary>
    public IReadOnlyList<PolicyStatusResult> Policies { get; init; } = [];

    /// <summary>Status of every AuthorizationPolicy a waypoint of ours enforces, ordered by namespace/name.</summary>
    public IReadOnlyList<AuthorizationPolicyStatusResult> AuthorizationPolicies { get; init; } = [];

    /// <summary>Status of every RequestAuthentication a waypoint of ours validates JWTs for, ordered by namespace/name.</summary>
    public IReadOnlyList<AuthorizationPolicyStatusResult> RequestAuthentications { get; init; } = [];
}

/// <summary>The xDS resources of one waypoint.</summary>
/// <remarks>
/// From the translator, the message lists are views decoded from <see cref="Encoded"/> on each read: read them for
/// diagnostics, not on a hot path.
/// </remarks>
/// <param name="Version">Content hash of all resources: equal inputs give equal versions across processes.</param>
/// <param name="Listeners">connect_terminate, main_internal (omitted when no service is bound), connect_originate.</param>
/// <param name="Routes">One RouteConfiguration per HTTP chain (served over RDS; named after the chain), ordered by name.</param>
/// <param name="Clusters">Clusters ordered by name.</param>
/// <param name="Endpoints">One load assignment per EDS cluster (possibly with no endpoints), ordered by cluster name.</param>
public sealed record WaypointResources(
    string Version,
    IReadOnlyList<Listener> Listeners,
    IReadOnlyList<RouteConfiguration> Routes,
    IReadOnlyList<Cluster> Clusters,
    IReadOnlyList<ClusterLoadAssignment> Endpoints)
{
    /// <summary>
    /// The same listeners, routes, clusters and endpoints, each already encoded (in that order):
    /// the xDS server sends these bytes as they are instead of encoding every resource again.
    /// Empty when the resources were not produced by the translator.
    /// </summary>
    public IReadOnlyList<EncodedResource> Encoded { get; init; } = [];

    /// <summary>
    /// Provenance: the objects a resource (type URL, name) was made from, the Gateway first. A resource not listed
    /// comes from <see cref="Gateway"/> alone. The controller uses it to report what Envoy rejected (NACKs).
    /// </summary>
    public IReadOnlyDictionary<(string TypeUrl, string Name), IReadOnlyList<SourceObject>> Sources { get; init; } =
        new Dictionary<(string TypeUrl, string Name), IReadOnlyList<SourceObject>>();

    /// <summary>The waypoint Gateway these resources belong to.</summary>
    public SourceObject? Gateway { get; init; }

    /// <summary>The objects behind one resource (<see cref="Sources"/>, else the Gateway).</summary>
    public IReadOnlyList<SourceObject> SourcesOf(string typeUrl, string name) =>
        Sources.TryGetValue((typeUrl, name), out var sources) ? sources : Gateway is { } gateway ? [gateway] : [];
}

/// <summary>A Kubernetes object a resource was translated from.</summary>
/// <param name="Kind">Gateway, HTTPRoute, TrafficPolicy, AuthorizationPolicy or RequestAuthentication.</param>
/// <param name="Namespace">Object namespace.</param>
/// <param name="Name">Object name.</param>
public sealed record SourceObject(string Kind, string Namespace, string Name);

/// <summary>A waypoint whose translation threw.</summary>
public sealed record WaypointTranslationError(WaypointKey Waypoint, Exception Exception);

/// <summary>An Envoy resource's protobuf encoding, made once and shared by every later translation that reuses it.</summary>
/// <remarks>
/// Only the encoding is kept: the message it was made from is dropped once encoded (a translation of 10,000 Services
/// would otherwise keep every resource twice, as bytes and as an object graph several times their size).
/// <see cref="Message"/> decodes the bytes for the rare reader that needs the message (diagnostics, tests).
/// </remarks>
public sealed class EncodedResource
{
    private EncodedResource(string typeUrl, string name, MessageParser parser, ByteString bytes)
    {
        TypeUrl = typeUrl;
        Name = name;
        Parser = parser;
        Bytes = bytes;
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(bytes.Span, digest);
        Hash = BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }

    /// <summary>The resource's type URL (<c>type.googleapis.com/envoy.config.cluster.v3.Cluster</c>, ...).</summary>
    public string TypeUrl { get; }

    public string Name { get; }

    /// <summary>The parser of the resource's message type.</summary>
    public MessageParser Parser { get; }

    /// <summary>The resource, decoded from <see cref="Bytes"/> on each read: a new object every time, equal to the one encoded.</summary>
    public IMessage Message => Parser.ParseFrom(Bytes);

    /// <summary>The protobuf encoding of the resource.</summary>
    public ByteString Bytes { get; }

    /// <summary>The first 16 bytes of the SHA-256 of <see cref="Bytes"/>.</summary>
    internal UInt128 Hash { get; }

    internal static EncodedResource Of(Listener listener) => new(Internal.Envoy.TypeUrl(Listener.Descriptor), listener.Name, Listener.Parser, listener.ToByteString());

    /// <summary>A listener whose encoding was assembled from encoded parts; <paramref name="bytes"/> must be its encoding.</summary>
    internal static EncodedResource OfListener(string name, ByteString bytes) => new(Internal.Envoy.TypeUrl(Listener.Descriptor), name, Listener.Parser, bytes);

    internal static EncodedResource Of(RouteConfiguration routes) => new(Internal.Envoy.TypeUrl(RouteConfiguration.Descriptor), routes.Name, RouteConfiguration.Parser, routes.ToByteString());

    internal static EncodedResource Of(Cluster cluster) => new(Internal.Envoy.TypeUrl(Cluster.Descriptor), cluster.Name, Cluster.Parser, cluster.ToByteString());

    internal static EncodedResource Of(ClusterLoadAssignment assignment) => new(Internal.Envoy.TypeUrl(ClusterLoadAssignment.Descriptor), assignment.ClusterName, ClusterLoadAssignment.Parser, assignment.ToByteString());
}

/// <summary>
/// A read-only view of encoded resources as their messages, each decoded when read (so nothing but the encodings
/// stays in memory). Reading the same entry twice gives two equal, distinct objects.
/// </summary>
internal sealed class DecodedResources<T>(IReadOnlyList<EncodedResource> encoded) : IReadOnlyList<T>
    where T : IMessage<T>
{
    public int Count => encoded.Count;

    public T this[int index] => (T)encoded[index].Message;

    public IEnumerator<T> GetEnumerator()
    {
        foreach (var resource in encoded)
        {
            yield return (T)resource.Message;
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Computed status of a Gateway of our class (without <c>addresses</c>, which the controller owns).</summary>
/// <param name="Key">The Gateway.</param>
/// <param name="ObservedGeneration">metadata.generation the conditions describe.</param>
/// <param name="Conditions">Accepted (Programmed is the controller's: it needs the Deployment's readiness).</param>
/// <param name="Listeners">One entry per spec listener, with supportedKinds, attachedRoutes and Accepted/ResolvedRefs.</param>
/// <param name="BoundServices">Services (<c>ns/name</c>) and ServiceEntries (<c>ns/name/host</c>) served by this waypoint.</param>
/// <remarks>Conditions carry no lastTransitionTime: the writer keeps the previous time when status and reason are unchanged.</remarks>
public sealed record GatewayStatusResult(
    WaypointKey Key,
    long? ObservedGeneration,
    IReadOnlyList<V1Condition> Conditions,
    IReadOnlyList<ListenerStatus> Listeners,
    IReadOnlyList<string> BoundServices);

/// <summary>Computed status of a GatewayClass that names our controller.</summary>
/// <param name="Name">The GatewayClass.</param>
/// <param name="ObservedGeneration">metadata.generation the conditions describe.</param>
/// <param name="Conditions">Accepted: True, or False with <c>InvalidParameters</c>.</param>
public sealed record GatewayClassStatusResult(string Name, long? ObservedGeneration, IReadOnlyList<V1Condition> Conditions);

/// <summary>The <c>status.parents</c> entries under our controller name for one HTTPRoute.</summary>
/// <param name="Namespace">Route namespace.</param>
/// <param name="Name">Route name.</param>
/// <param name="ObservedGeneration">metadata.generation the conditions describe.</param>
/// <param name="Parents">Entries for the parents we manage; entries of other controllers must be kept by the writer.</param>
public sealed record RouteStatusResult(
    string Namespace,
    string Name,
    long? ObservedGeneration,
    IReadOnlyList<RouteParentStatus> Parents);

/// <summary>The <c>status.ancestors</c> entries under our controller name for one TrafficPolicy (GEP-713).</summary>
/// <param name="Namespace">Policy namespace.</param>
/// <param name="Name">Policy name.</param>
/// <param name="ObservedGeneration">metadata.generation the conditions describe.</param>
/// <param name="Ancestors">One entry per target we manage, with an Accepted condition (Accepted, Invalid or Conflicted).</param>
public sealed record PolicyStatusResult(
    string Namespace,
    string Name,
    long? ObservedGeneration,
    IReadOnlyList<PolicyAncestorStatus> Ancestors);

/// <summary>The <c>status.ancestors</c> entries under our controller name for one AuthorizationPolicy.</summary>
/// <param name="Namespace">Policy namespace.</param>
/// <param name="Name">Policy name.</param>
/// <param name="ObservedGeneration">metadata.generation the conditions describe.</param>
/// <param name="Ancestors">One entry per enforcing waypoint Gateway, with a <c>WaypointAccepted</c> condition.</param>
public sealed record AuthorizationPolicyStatusResult(
    string Namespace,
    string Name,
    long? ObservedGeneration,
    IReadOnlyList<PolicyAncestorStatus> Ancestors);
