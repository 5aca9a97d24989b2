using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>
/// A JWT issuer made by the test: an RSA key generated here, its public half as an inline JWKS (what a
/// RequestAuthentication's <c>jwks</c> holds) and RS256 tokens signed with it.
/// </summary>
internal sealed class TestJwtIssuer : IDisposable
{
    private readonly RSA _key = RSA.Create(2048);

    public TestJwtIssuer(string issuer, string keyId)
    {
        Issuer = issuer;
        KeyId = keyId;
    }

    public string Issuer { get; }

    public string KeyId { get; }

    /// <summary>The public key as a JSON Web Key Set, on one line.</summary>
    public string Jwks
    {
        get
        {
            var parameters = _key.ExportParameters(includePrivateParameters: false);
            var key = new JsonObject
            {
                ["kty"] = "RSA",
                ["kid"] = KeyId,
                ["alg"] = "RS256",
                ["use"] = "sig",
                ["n"] = Base64Url(parameters.Modulus!),
                ["e"] = Base64Url(parameters.Exponent!),
            };
            return new JsonObject { ["keys"] = new JsonArray(key) }.ToJsonString();
        }
    }

    /// <summary>A token for <paramref name="subject"/> with the given extra claims, valid for an hour.</summary>
    public string Token(string subject, params (string Name, string Value)[] claims) => Sign(_key, subject, claims);

    /// <summary>A token that looks like this issuer's (same <c>iss</c> and <c>kid</c>) but is signed with another key.</summary>
    public string TokenWithBadSignature(string subject)
    {
        using var other = RSA.Create(2048);
        return Sign(other, subject, []);
    }

    public void Dispose() => _key.Dispose();

    private string Sign(RSA key, string subject, (string Name, string Value)[] claims)
    {
        var header = new JsonObject { ["alg"] = "RS256", ["typ"] = "JWT", ["kid"] = KeyId };
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var payload = new JsonObject { ["iss"] = Issuer, ["sub"] = subject, ["iat"] = now, ["exp"] = now + 3600 };
        foreach (var (name, value) in claims)
        {
            payload[name] = value;
        }

        var signed = $"{Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString()))}.{Base64Url(Encoding.UTF8.GetBytes(payload.ToJsonString()))}";
        var signature = key.SignData(Encoding.ASCII.GetBytes(signed), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return $"{signed}.{Base64Url(signature)}";
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
