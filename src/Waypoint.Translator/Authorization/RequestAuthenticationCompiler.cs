using System.Globalization;
using System.Text.Json;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Extensions.Filters.Http.JwtAuthn.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Authorization;

/// <summary>
/// Compiles a RequestAuthentication into jwt_authn providers (one per jwtRule) and, for <c>jwksUri</c>, the cluster
/// that fetches the keys. A rule that cannot be compiled is left out and named in <see cref="CompiledRequestAuthentication.Problems"/>:
/// a token of that issuer then validates nowhere, so it is rejected (jwt_authn refuses a token no provider accepts).
/// </summary>
internal static class RequestAuthenticationCompiler
{
    private static readonly TimeSpan s_defaultFetchTimeout = TimeSpan.FromSeconds(5);

    /// <param name="authentication">The object.</param>
    /// <param name="options">Translator settings.</param>
    /// <param name="envoyRejection">
    /// Why Envoy rejected the configuration made from this generation (a NACK), or null. Its providers are then left out
    /// (none is sent again), as for a rule with an unusable key set.
    /// </param>
    public static CompiledRequestAuthentication Compile(V1RequestAuthentication authentication, TranslatorOptions options, string? envoyRejection = null)
    {
        var ns = authentication.Metadata?.NamespaceProperty ?? "default";
        var name = authentication.Metadata?.Name ?? "";
        var spec = authentication.Spec ?? new RequestAuthenticationSpec();
        if (envoyRejection is not null)
        {
            return new CompiledRequestAuthentication(ns, name, authentication.Metadata?.Generation, IstioPolicyTargets.Of(spec.TargetRef, spec.TargetRefs),
                new SortedDictionary<string, JwtProvider>(StringComparer.Ordinal), [], [envoyRejection]) { EnvoyRejected = true };
        }

        var problems = new List<string>();
        foreach (var field in spec.Unsupported?.Keys ?? [])
        {
            problems.Add($"spec.{field}: not supported");
        }

        var targets = IstioPolicyTargets.Of(spec.TargetRef, spec.TargetRefs);
        var providers = new SortedDictionary<string, JwtProvider>(StringComparer.Ordinal);
        var clusters = new List<Cluster>();
        var rules = spec.JwtRules ?? [];
        for (var i = 0; i < rules.Count; i++)
        {
            var at = $"spec.jwtRules[{i}]";
            var rule = rules[i];
            var before = problems.Count;
            foreach (var field in rule.Unsupported?.Keys ?? [])
            {
                problems.Add($"{at}.{field}: not supported");
            }

            if (string.IsNullOrEmpty(rule.Issuer))
            {
                problems.Add($"{at}.issuer: required");
            }

            var provider = new JwtProvider
            {
                Issuer = rule.Issuer ?? "",
                PayloadInMetadata = JwtClaims.PayloadKey,
                Forward = rule.ForwardOriginalToken ?? false,
            };
            provider.Audiences.AddRange(rule.Audiences ?? []);
            foreach (var header in rule.FromHeaders ?? [])
            {
                provider.FromHeaders.Add(new JwtHeader { Name = header.Name, ValuePrefix = header.Prefix ?? "" });
            }

            provider.FromParams.AddRange(rule.FromParams ?? []);
            provider.FromCookies.AddRange(rule.FromCookies ?? []);
            if (!string.IsNullOrEmpty(rule.OutputPayloadToHeader))
            {
                provider.ForwardPayloadHeader = rule.OutputPayloadToHeader;
            }

            foreach (var claim in rule.OutputClaimToHeaders ?? [])
            {
                provider.ClaimToHeaders.Add(new JwtClaimToHeader { HeaderName = claim.Header, ClaimName = claim.Claim });
            }

            if (!string.IsNullOrEmpty(rule.Jwks))
            {
                if (JwksProblem(rule.Jwks) is { } problem)
                {
                    // Envoy refuses the whole listener over one unusable key set: caught here, it costs only this rule.
                    problems.Add($"{at}.jwks: {problem}");
                }

                provider.LocalJwks = new DataSource { InlineString = rule.Jwks };
            }
            else if (!string.IsNullOrEmpty(rule.JwksUri))
            {
                if (!Uri.TryCreate(rule.JwksUri, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
                {
                    problems.Add($"{at}.jwksUri: '{rule.JwksUri}' is not an http(s) URL");
                }
                else
                {
                    var timeout = s_defaultFetchTimeout;
                    if (rule.Timeout is { } text && !TryParseDuration(text, out timeout))
                    {
                        problems.Add($"{at}.timeout: '{text}' is not a duration");
                    }

                    var cluster = JwksCluster(uri, options);
                    clusters.Add(cluster);
                    provider.RemoteJwks = new RemoteJwks
                    {
                        HttpUri = new HttpUri { Uri = uri.ToString(), Cluster = cluster.Name, Timeout = Internal.Envoy.Duration(timeout) },
                    };
                }
            }
            else
            {
                problems.Add($"{at}: one of jwks or jwksUri is required (OpenID discovery from the issuer is not supported)");
            }

            if (problems.Count == before)
            {
                providers[$"{ns}/{name}/{i.ToString(CultureInfo.InvariantCulture)}"] = provider;
            }
        }

        return new CompiledRequestAuthentication(ns, name, authentication.Metadata?.Generation, targets, providers, clusters, problems);
    }

    /// <summary>Fetches JWKS from outside the mesh: DNS, TLS verified against the system roots for https.</summary>
    private static Cluster JwksCluster(Uri uri, TranslatorOptions options)
    {
        var https = uri.Scheme == "https";
        var port = uri.IsDefaultPort ? (https ? 443 : 80) : uri.Port;
        var name = $"jwks|{uri.Host}|{port.ToString(CultureInfo.InvariantCulture)}";
        var cluster = new Cluster
        {
            Name = name,
            Type = Cluster.Types.DiscoveryType.StrictDns,
            ConnectTimeout = Internal.Envoy.Duration(options.ConnectTimeout),
            LoadAssignment = new ClusterLoadAssignment
            {
                ClusterName = name,
                Endpoints = { new LocalityLbEndpoints { LbEndpoints = { new LbEndpoint { Endpoint = new Endpoint { Address = Internal.Envoy.SocketAddress(uri.Host, port) } } } } },
            },
        };
        if (https)
        {
            var validation = new CertificateValidationContext { TrustedCa = new DataSource { Filename = options.JwksTrustedCaFile } };
            validation.MatchTypedSubjectAltNames.Add(new SubjectAltNameMatcher
            {
                SanType = SubjectAltNameMatcher.Types.SanType.Dns,
                Matcher = new global::Envoy.Type.Matcher.V3.StringMatcher { Exact = uri.Host },
            });
            cluster.TransportSocket = new TransportSocket
            {
                Name = "envoy.transport_sockets.tls",
                TypedConfig = Internal.Envoy.Pack(new UpstreamTlsContext { Sni = uri.Host, CommonTlsContext = new CommonTlsContext { ValidationContext = validation } }),
            };
        }

        return cluster;
    }

    /// <summary>What Envoy would refuse in an inline JWKS: not a key set, or a key whose material does not load.</summary>
    private static string? JwksProblem(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Array || keys.GetArrayLength() == 0)
            {
                return "not a JSON Web Key Set (an object with a non-empty 'keys' array)";
            }

            var index = 0;
            foreach (var key in keys.EnumerateArray())
            {
                if (KeyProblem(key) is { } problem)
                {
                    return $"keys[{index}]: {problem}";
                }

                index++;
            }

            return null;
        }
        catch (JsonException ex)
        {
            return $"not JSON ({ex.Message})";
        }
    }

    private static string? KeyProblem(JsonElement key)
    {
        string? Field(string name) => key.ValueKind == JsonValueKind.Object && key.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        try
        {
            switch (Field("kty"))
            {
                case "RSA":
                    using (var rsa = System.Security.Cryptography.RSA.Create())
                    {
                        rsa.ImportParameters(new System.Security.Cryptography.RSAParameters { Modulus = Base64Url(Field("n")), Exponent = Base64Url(Field("e")) });
                    }

                    return null;
                case "EC":
                    var curve = Field("crv") switch
                    {
                        "P-256" => System.Security.Cryptography.ECCurve.NamedCurves.nistP256,
                        "P-384" => System.Security.Cryptography.ECCurve.NamedCurves.nistP384,
                        "P-521" => System.Security.Cryptography.ECCurve.NamedCurves.nistP521,
                        var other => throw new FormatException($"curve '{other}' is not P-256, P-384 or P-521"),
                    };
                    using (var ec = System.Security.Cryptography.ECDsa.Create())
                    {
                        ec.ImportParameters(new System.Security.Cryptography.ECParameters { Curve = curve, Q = new System.Security.Cryptography.ECPoint { X = Base64Url(Field("x")), Y = Base64Url(Field("y")) } });
                    }

                    return null;
                case "oct":
                    _ = Base64Url(Field("k"));
                    return null;
                case "OKP":
                    _ = Base64Url(Field("x"));
                    return null;
                case var kty:
                    return $"kty '{kty}' is not RSA, EC, oct or OKP";
            }
        }
        catch (Exception ex) when (ex is FormatException or System.Security.Cryptography.CryptographicException)
        {
            return $"the key does not load ({ex.Message})";
        }
    }

    private static byte[] Base64Url(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw new FormatException("a key field is missing");
        }

        var text = value.Replace('-', '+').Replace('_', '/');
        text = text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '=');
        return Convert.FromBase64String(text);
    }

    /// <summary>Go durations as Istio writes them: <c>500ms</c>, <c>5s</c>, <c>1m</c>.</summary>
    internal static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        (string Unit, double Scale)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
        foreach (var (unit, scale) in units)
        {
            if (text.EndsWith(unit, StringComparison.Ordinal)
                && double.TryParse(text.AsSpan(0, text.Length - unit.Length), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount)
                && !(unit == "s" && text.EndsWith("ms", StringComparison.Ordinal)))
            {
                value = TimeSpan.FromMilliseconds(amount * scale);
                return value > TimeSpan.Zero;
            }
        }

        return false;
    }
}

/// <param name="Providers">jwt_authn providers by name (<c>ns/name/rule</c>).</param>
/// <param name="Clusters">Clusters that fetch remote JWKS.</param>
/// <param name="Problems">Rules left out, each naming the field.</param>
internal sealed record CompiledRequestAuthentication(
    string Namespace,
    string Name,
    long? Generation,
    IReadOnlyList<IstioPolicyTargetReference> Targets,
    SortedDictionary<string, JwtProvider> Providers,
    IReadOnlyList<Cluster> Clusters,
    IReadOnlyList<string> Problems)
{
    /// <summary>Envoy rejected this generation (<see cref="Problems"/> holds its message): all its rules are left out.</summary>
    public bool EnvoyRejected { get; init; }
}
