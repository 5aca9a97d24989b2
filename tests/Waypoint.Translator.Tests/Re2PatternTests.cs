using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Waypoint.TestKit.Envoy;
using Waypoint.Translator.Internal;
using Waypoint.Xds.Bootstrap;
using Xunit.Abstractions;

namespace Waypoint.Translator.Tests;

public sealed partial class Re2PatternTests(ITestOutputHelper output)
{
    /// <summary>Patterns Envoy compiles, from small to large; the size check below runs each through Envoy itself.</summary>
    public static TheoryData<string> Accepted => new(s_accepted);

    private static readonly string[] s_accepted =
    [
        "/api/[0-9]+",
        "^/api/v[0-9]+/users/[a-zA-Z0-9_-]{1,64}$",
        "^/$",
        "abc",
        "^/(a|b|c|d)/x$",
        "^/[^/]+/[^/]+$",
        ".*",
        "(?i)^/Kelvin/sss$",
        "^/files/.+\\.(png|jpe?g|gif)$",
        "^/(?P<tenant>[a-z]+)/(?:items|orders)/\\d{1,8}$",
        "\\bword\\b|\\Aa\\z",
        "[[:alpha:][:digit:]]{2,5}",
        "^/é/[α-ω]+/😀$",
        "\\x{41}[\\x{80}-\\x{FF}]",
        "[^a-z\u0100-\u2FFF]*",
        "\\Q/a.b*\\E(x{0})?",
        "(a*)*",
        "((a|b){3}c?){4}",
        "[\\s\\S\\w\\W\\d\\D]+",
        "^/(?s:.)(?m:^x$)(?U:a+b*)",
        "[\\x00-\U0010FFFF]",
        "[\u00E0-\u00FF\u4E00-\u9FFF\U00010000-\U0001FFFF]{1,3}",
        "a{2,}b{0,}c{1,}",
        "\\012\\x41\\t\\n\\.\\-",
    ];

    [Theory]
    [InlineData("/(?=x)")]
    [InlineData("/(?!x)")]
    [InlineData("(?<=a)b")]
    [InlineData("(?<!a)b")]
    [InlineData("(a)\\1")]
    [InlineData("(?P<n>a)(?P=n)")]
    [InlineData("(?>a)")]
    [InlineData("a**")]
    [InlineData("a*+")]
    [InlineData("a{2}{3}")]
    [InlineData("*a")]
    [InlineData("a|+")]
    [InlineData("a{1001}")]
    [InlineData("(a{100}){11}")]
    [InlineData("a{5,3}")]
    [InlineData("/[")]
    [InlineData("[z-a]")]
    [InlineData("(a")]
    [InlineData("a)")]
    [InlineData("\\Z")]
    [InlineData("\\k")]
    [InlineData("a\\")]
    [InlineData("[[:nope:]]")]
    [InlineData("\\pL")]
    [InlineData("(?#comment)")]
    [InlineData("(?x)a")]
    [InlineData("\\x{263A}")]
    public void Refuses_What_Re2_Refuses(string pattern) => Assert.NotNull(Re2Pattern.Check(pattern, int.MaxValue).Error);

    [Theory]
    [MemberData(nameof(Accepted))]
    public void Accepts_Re2_Syntax(string pattern) => Assert.Null(Re2Pattern.Check(pattern, int.MaxValue).Error);

    [Fact]
    public void Oversized_Program_Is_Refused_Naming_The_Size_And_The_Limit()
    {
        var check = Re2Pattern.Check("^/api/v[0-9]+/users/[a-zA-Z0-9_-]{1,64}$", 100);

        Assert.NotNull(check.Error);
        Assert.Contains("above the limit of 100", check.Error, StringComparison.Ordinal);
        Assert.Contains(check.ProgramSize.ToString(CultureInfo.InvariantCulture), check.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Translator_And_Bootstrap_Share_The_Limit() =>
        Assert.Equal(EnvoyBootstrapBuilder.MaxRegexProgramSize, new TranslatorOptions().MaxRegexProgramSize);

    /// <summary>
    /// The estimate is conservative: for every pattern it is at least the program size Envoy's RE2 reports. Envoy
    /// validates a route with the pattern under a runtime limit of 1, so it refuses it naming the real size.
    /// </summary>
    [Fact]
    public async Task Estimate_Is_Never_Below_Envoys_Program_Size()
    {
        var report = new List<string>();
        foreach (var pattern in s_accepted)
        {
            var actual = await EnvoyProgramSizeAsync(pattern);
            var estimate = Re2Pattern.Check(pattern, int.MaxValue).ProgramSize;
            report.Add($"{estimate,6} >= {actual,6}  {pattern}");
            Assert.True(estimate >= actual, $"estimate {estimate} < Envoy's {actual} for '{pattern}'\n{string.Join('\n', report)}");
        }

        output.WriteLine("estimate >= Envoy's program size\n" + string.Join('\n', report));
    }

    private static async Task<long> EnvoyProgramSizeAsync(string pattern)
    {
        var directory = Directory.CreateTempSubdirectory("wp-re2-");
        try
        {
            var config = new JsonObject
            {
                ["admin"] = new JsonObject(),
                ["layered_runtime"] = JsonNode.Parse("""{"layers": [{"name": "limit", "static_layer": {"re2.max_program_size.error_level": 1}}]}"""),
                ["static_resources"] = new JsonObject
                {
                    ["listeners"] = new JsonArray(JsonNode.Parse($$$"""
                        {
                          "name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                          "filter_chains": [{"filters": [{"name": "hcm", "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "l",
                            "http_filters": [{"name": "router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
                            "route_config": {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
                              {"match": {"safe_regex": {"regex": {{{new JsonArray(pattern)[0]!.ToJsonString()}}}}}, "direct_response": {"status": 200}}]}]}
                          }}]}]
                        }
                        """)),
                },
            };
            var path = Path.Combine(directory.FullName, "validate.json");
            await File.WriteAllTextAsync(path, config.ToJsonString());
            using var process = Process.Start(new ProcessStartInfo(EnvoyBinary.Locate())
            {
                ArgumentList = { "--mode", "validate", "-c", path, "--log-level", "error", "--base-id", Random.Shared.Next(1, 1 << 20).ToString(CultureInfo.InvariantCulture) },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            var text = await output + await error;
            var match = ProgramSize().Match(text);
            Assert.True(match.Success, $"Envoy did not report the program size of '{pattern}':\n{text}");
            return long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [GeneratedRegex(@"RE2 program size of (\d+) >")]
    private static partial Regex ProgramSize();
}
