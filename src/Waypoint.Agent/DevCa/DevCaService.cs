using Grpc.Core;
using Istio.V1.Auth;

namespace Waypoint.Agent.DevCa;

/// <summary>
/// <c>IstioCertificateService</c> as istiod serves it: authenticate (token → identity), refuse impersonation
/// (a waypoint is not a node proxy), then sign by <see cref="DevCertificateAuthority"/>'s rules. For local/dev use.
/// </summary>
public class DevCaService(DevCertificateAuthority authority, IstiodAuthenticator authenticator) : IstioCertificateService.IstioCertificateServiceBase
{
    public DevCertificateAuthority Authority { get; } = authority;

    public IstiodAuthenticator Authenticator { get; } = authenticator;

    public override async Task<IstioCertificateResponse> CreateCertificate(IstioCertificateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var identity = await Authenticator.AuthenticateAsync(context.RequestHeaders, context.CancellationToken).ConfigureAwait(false);
        if (request.Metadata?.Fields.ContainsKey("ImpersonatedIdentity") == true)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "request impersonation authentication failure"));
        }

        var chain = Authority.Sign(request.Csr, request.ValidityDuration, identity);
        return new IstioCertificateResponse { CertChain = { chain } };
    }
}
