using Grpc.Core;

namespace Waypoint.TestKit.Ca;

/// <summary>One CreateCertificate call as the double saw it.</summary>
public sealed record RecordedCertificateRequest
{
    public required string CsrPem { get; init; }

    public required long ValidityDurationSeconds { get; init; }

    /// <summary>All request headers (lower-case names, text values), authorization included: tests only.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; }

    /// <summary>The identity the token authenticated as, when it did.</summary>
    public string? Identity { get; set; }

    /// <summary>OK, or the code the call ended with.</summary>
    public StatusCode Outcome { get; set; } = StatusCode.OK;

    public string? Header(string name) => Headers.FirstOrDefault(h => h.Key == name).Value;
}
