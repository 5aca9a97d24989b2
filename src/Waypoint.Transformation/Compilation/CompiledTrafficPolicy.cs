using Envoy.Config.Core.V3;
using Envoy.Extensions.Filters.Http.ExtProc.V3;
using Google.Protobuf.WellKnownTypes;
using Waypoint.Transformation.Model;
using EnvoyRetryPolicy = Envoy.Config.Route.V3.RetryPolicy;

namespace Waypoint.Transformation.Compilation;

/// <summary>
/// A validated TrafficPolicy turned into Envoy terms. Immutable; build with <see cref="TrafficPolicyCompiler.Compile"/>.
/// Protobuf members are shared and must not be mutated; <see cref="RouteTrafficPolicy.ApplyTo"/> clones them.
/// </summary>
public sealed record CompiledTrafficPolicy
{
    /// <summary><c>namespace/name</c>.</summary>
    public string Key => $"{Namespace}/{Name}";

    public string Namespace { get; init; } = "";

    public string Name { get; init; } = "";

    /// <summary>Orders policies at the same level: the oldest wins a conflict (Gateway API policy attachment).</summary>
    public DateTime? CreationTimestamp { get; init; }

    public IReadOnlyList<LocalPolicyTargetReferenceWithSectionName> TargetRefs { get; init; } = [];

    public CompiledTransformation? Transformation { get; init; }

    /// <summary>The route retry policy, or null when the policy has no <c>retry</c>.</summary>
    public EnvoyRetryPolicy? Retry { get; init; }

    /// <summary><c>timeouts.request</c> → route <c>timeout</c>.</summary>
    public Duration? RequestTimeout { get; init; }

    /// <summary><c>timeouts.streamIdle</c> → route <c>idle_timeout</c>.</summary>
    public Duration? StreamIdleTimeout { get; init; }
}

/// <summary>How a policy's transformation runs: all in Envoy route config, or all in the transformation service.</summary>
public sealed record CompiledTransformation
{
    /// <summary>The normalized spec; it travels to the transformation service inside the per-route config.</summary>
    public TransformationPolicy Spec { get; init; } = new();

    public TransformProgram? Request { get; init; }

    public TransformProgram? Response { get; init; }

    /// <summary>
    /// True when the transformation runs in the transformation service (ext_proc). A transformation runs wholly in
    /// one place so every template sees the original message, as in kgateway.
    /// </summary>
    public bool UsesExternalProcessing => ExtProcPerRoute is not null;

    /// <summary>Route <c>request_headers_to_add</c> (native mode).</summary>
    public IReadOnlyList<HeaderValueOption> RequestHeadersToAdd { get; init; } = [];

    public IReadOnlyList<string> RequestHeadersToRemove { get; init; } = [];

    public IReadOnlyList<HeaderValueOption> ResponseHeadersToAdd { get; init; } = [];

    public IReadOnlyList<string> ResponseHeadersToRemove { get; init; } = [];

    /// <summary>The per-route ext_proc override enabling the service for this route (ext_proc mode), else null.</summary>
    public ExtProcPerRoute? ExtProcPerRoute { get; init; }

    /// <summary>Why the transformation needs the service (for logs and docs), or null in native mode.</summary>
    public string? ExternalProcessingReason { get; init; }
}

/// <summary>The outcome of compiling one TrafficPolicy.</summary>
public sealed record TrafficPolicyCompileResult
{
    public CompiledTrafficPolicy? Policy { get; init; }

    /// <summary>Every problem found, each naming the field (e.g. <c>spec.transformation.request.set[0].value: …</c>).</summary>
    public IReadOnlyList<string> Errors { get; init; } = [];

    public bool Succeeded => Policy is not null;

    /// <summary>The message for the policy's <c>Accepted=False, reason=Invalid</c> condition.</summary>
    public string ErrorMessage => string.Join("; ", Errors);
}
