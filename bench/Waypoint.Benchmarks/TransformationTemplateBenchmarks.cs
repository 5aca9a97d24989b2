using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Waypoint.Transformation.Templates;

namespace Waypoint.Benchmarks;

/// <summary>Template engine cost per message: parse (once per config) and render (per request).</summary>
[MemoryDiagnoser]
public class TransformationTemplateBenchmarks
{
    private const string Base64Source = "{{ substring(base64_decode(request_header(\"x-base64-encoded\")), 11) }}";
    private const string BodySource = "{\"id\": \"{{ user.id }}\", \"name\": \"{{ user.name }}\", \"first\": \"{{ user.roles.0 }}\", \"from\": \"{{ header(\"x-client\") }}\"}";

    private readonly byte[] _body = Encoding.UTF8.GetBytes("""{"user": {"id": 42, "name": "Ada", "roles": ["admin", "dev"]}, "padding": "0123456789012345678901234567890123456789"}""");
    private Template _base64 = null!;
    private Template _bodyTemplate = null!;
    private Dictionary<string, string> _headers = null!;

    [GlobalSetup]
    public void Setup()
    {
        _base64 = Template.Parse(Base64Source);
        _bodyTemplate = Template.Parse(BodySource);
        _headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["x-base64-encoded"] = "dHJhbnNmb3JtYXRpb24gdGVzdA==",
            ["x-client"] = "bench",
            [":path"] = "/items",
        };
    }

    [Benchmark]
    public Template ParseBase64Template() => Template.Parse(Base64Source);

    [Benchmark]
    public string RenderBase64Header() => _base64.Render(new TemplateScope { Headers = _headers });

    /// <summary>What the service does per JSON request: parse the body, render a body template over it.</summary>
    [Benchmark]
    public string ParseJsonAndRenderBody()
    {
        using var document = JsonDocument.Parse(_body);
        return _bodyTemplate.Render(new TemplateScope { Headers = _headers, Body = _body, Json = document.RootElement });
    }
}
