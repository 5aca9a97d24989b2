using Grpc.Core;

namespace Waypoint.Agent.Certificates;

/// <summary>Why getting a certificate failed, in the terms the retry policy and metrics need.</summary>
public enum CertificateFailureKind
{
    /// <summary>Local input is missing or unusable (token file, root file).</summary>
    LocalConfiguration,

    /// <summary>The CA answered with a gRPC error; see <see cref="WorkloadCertificateException.StatusCode"/>.</summary>
    CaError,

    /// <summary>The CA answered, but the answer failed validation. Nothing was installed.</summary>
    InvalidResponse,
}

/// <summary>A failed attempt to obtain a workload certificate, with a message fit for logs (no secrets).</summary>
public sealed class WorkloadCertificateException : Exception
{
    public WorkloadCertificateException(CertificateFailureKind kind, string message, StatusCode? statusCode = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        StatusCode = statusCode;
    }

    public WorkloadCertificateException()
    {
    }

    public WorkloadCertificateException(string message)
        : base(message)
    {
    }

    public WorkloadCertificateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public CertificateFailureKind Kind { get; }

    public StatusCode? StatusCode { get; }

    /// <summary>Bounded label for metrics: the gRPC code name, <c>invalid_response</c> or <c>local_configuration</c>.</summary>
    public string MetricCode => Kind switch
    {
        CertificateFailureKind.CaError => StatusCode?.ToString() ?? "Unknown",
        CertificateFailureKind.InvalidResponse => "invalid_response",
        _ => "local_configuration",
    };
}
