using System.Text;
using System.Text.Json;
using Waypoint.Transformation.Templates;

namespace Waypoint.Transformation.Tests.Templates;

public sealed class TemplateTests
{
    private const string Body = """{"user": {"id": 7, "name": "Ada", "tags": ["a", "b"], "active": true, "score": 1.5, "none": null}, "body": {"x": "inner"}, "count": 3}""";

    private static TemplateScope Scope(string body = Body, bool json = true)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["x-name"] = "World",
            ["x-b64"] = "dHJhbnNmb3JtYXRpb24gdGVzdA==",
            [":path"] = "/items?x=1",
            ["x-which"] = "x-name",
        };
        var request = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["x-req"] = "from-request" };
        return new TemplateScope
        {
            Headers = headers,
            RequestHeaders = request,
            Body = Encoding.UTF8.GetBytes(body),
            Json = json ? JsonDocument.Parse(body).RootElement : null,
            Environment = name => name == "POD_NAME" ? "waypoint-0" : null,
        };
    }

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("", "")]
    [InlineData("{{ \"lit\" }}", "lit")]
    [InlineData("{{ 'single' }}", "single")]
    [InlineData("{{ \"esc\\\"aped\\n\" }}", "esc\"aped\n")]
    [InlineData("Hello {{ header(\"x-name\") }}!", "Hello World!")]
    [InlineData("{{ header(\"X-NAME\") }}", "World")]
    [InlineData("[{{ header(\"missing\") }}]", "[]")]
    [InlineData("{{ request_header(\"x-req\") }}", "from-request")]
    [InlineData("{{ header(header(\"x-which\")) }}", "World")]
    [InlineData("{{ base64_decode(header(\"x-b64\")) }}", "transformation test")]
    [InlineData("{{ substring(base64_decode(header(\"x-b64\")), 11) }}", "ion test")]
    [InlineData("{{ substring(\"abcdef\", 1, 3) }}", "bcd")]
    [InlineData("{{ substring(\"abcdef\", 4, 0) }}", "ef")]
    [InlineData("{{ substring(\"abcdef\", 4, 100) }}", "ef")]
    [InlineData("{{ substring(\"abcdef\", 10) }}", "")]
    [InlineData("{{ substring(\"abcdef\", -1) }}", "")]
    [InlineData("{{ base64_encode(\"hi there\") }}", "aGkgdGhlcmU=")]
    [InlineData("{{ base64_decode(base64_encode(\"round ✓\")) }}", "round ✓")]
    [InlineData("{{ env(\"POD_NAME\") }}", "waypoint-0")]
    [InlineData("[{{ env(\"NOPE\") }}]", "[]")]
    [InlineData("{{ raw_string(\"a\\\"b\\\\c\") }}", "a\\\"b\\\\c")]
    [InlineData("{{ user.id }}", "7")]
    [InlineData("{{ user.name }}", "Ada")]
    [InlineData("{{ user.tags.1 }}", "b")]
    [InlineData("{{ user.tags[0] }}", "a")]
    [InlineData("{{ user[\"name\"] }}", "Ada")]
    [InlineData("{{ user.tags }}", "[\"a\",\"b\"]")]
    [InlineData("{{ user.active }}", "true")]
    [InlineData("{{ user.score }}", "1.5")]
    [InlineData("{{ user.none }}", "null")]
    [InlineData("{{ body.x }}", "inner")]
    [InlineData("{{ context().count }}", "3")]
    [InlineData("{{ \"a\" + \"b\" ~ user.name }}", "abAda")]
    [InlineData("{{ count + 1 }}", "4")]
    [InlineData("{{ count - 1 }}", "2")]
    [InlineData("{{ \"n=\" ~ count }}", "n=3")]
    [InlineData("{{ -count }}", "-3")]
    [InlineData("{{ (count + 1) ~ \"x\" }}", "4x")]
    [InlineData("{% if user.active %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{% if user.missing %}yes{% else %}no{% endif %}", "no")]
    [InlineData("{% if count == 3 %}three{% endif %}", "three")]
    [InlineData("{% if count > 5 %}big{% else if count > 2 %}mid{% else %}small{% endif %}", "mid")]
    [InlineData("{% if not user.missing and header(\"x-name\") == \"World\" %}ok{% endif %}", "ok")]
    [InlineData("{% if user.none or user.tags %}t{% endif %}", "t")]
    [InlineData("{% if user.name != \"Bob\" %}not bob{% endif %}", "not bob")]
    [InlineData("a {#comment#}b", "a b")]
    [InlineData("a   {{- \" x \" -}}   b", "a x b")]
    [InlineData("{% if true -%}\n  yes\n{%- endif %}", "yes")]
    [InlineData("{ not a tag } {{ \"}}\" }}", "{ not a tag } }}")]
    [InlineData("100% {{ \"%\" }}", "100% %")]
    public void Render_ProducesTheExpectedText(string template, string expected)
    {
        Assert.Equal(expected, Template.Parse(template).Render(Scope()));
    }

    [Fact]
    public void Body_ReturnsTheRawBody()
    {
        Assert.Equal("not json at all", Template.Parse("{{ body() }}").Render(Scope("not json at all", json: false)));
    }

    [Theory]
    [InlineData("{{ header(\"x\" }}", 1, 15, "expected ',' or ')' in the arguments of header() but found '}'")]
    [InlineData("{{ header(\"x\")", 1, 1, "unterminated '{{': expected '}}' before the end of the template")]
    [InlineData("{{ \"open }}", 1, 4, "unterminated string literal")]
    [InlineData("{{ nope(1) }}", 1, 4, "unknown function 'nope' (supported: header(), request_header(), body(), context(), env(), base64_encode(), base64_decode(), substring(), raw_string())")]
    [InlineData("{{ replace_with_random(\"a\", \"b\") }}", 1, 4, "function 'replace_with_random' is not supported by Waypoint")]
    [InlineData("{{ substring(\"a\") }}", 1, 4, "substring() takes 2 to 3 arguments, got 1")]
    [InlineData("{{ header() }}", 1, 4, "header() takes 1 argument, got 0")]
    [InlineData("{{ body(1) }}", 1, 4, "body() takes 0 arguments, got 1")]
    [InlineData("{{ x | upper }}", 1, 6, "filters ('|') are not supported; call functions instead, e.g. base64_encode(x)")]
    [InlineData("{{ 2 * 3 }}", 1, 6, "operator '*' is not supported (supported: + and ~ to concatenate, - on numbers, comparisons, and/or/not)")]
    [InlineData("{% for x in y %}{% endfor %}", 1, 4, "'{% for %}' statements are not supported (supported: if, else if, else, endif)")]
    [InlineData("{% if x %}open", 1, 1, "'{% if %}' without a matching '{% endif %}'")]
    [InlineData("text {% endif %}", 1, 6, "'{% endif %}' without a matching '{% if %}'")]
    [InlineData("{% if a %}{% else %}{% else %}{% endif %}", 1, 21, "'{% else %}' after '{% else %}'")]
    [InlineData("line one\n  {{ }}", 2, 6, "expected an expression but found '}'")]
    [InlineData("{# never closed", 1, 1, "unterminated comment: '{#' without '#}'")]
    [InlineData("{{ a. }}", 1, 6, "expected a field name or index after '.', found ' '")]
    [InlineData("{{ \"bad \\q\" }}", 1, 9, "invalid escape sequence '\\q' in string literal")]
    [InlineData("{{ a[1 }}", 1, 8, "expected ']' but found '}'")]
    [InlineData("{{ and }}", 1, 4, "expected an expression but found the keyword 'and'")]
    public void Parse_RejectsWithPositionAndProblem(string template, int line, int column, string problem)
    {
        var error = Assert.Throws<TemplateSyntaxException>(() => Template.Parse(template));
        Assert.Equal(problem, error.Problem);
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Equal($"line {line}, column {column}: {problem}", error.Message);
    }

    [Theory]
    [InlineData("{{ user.nope }}", "field 'user.nope' is not present in the JSON body")]
    [InlineData("{{ missing }}", "field 'missing' is not present in the JSON body")]
    [InlineData("{{ \"a\" ~ user.tags.9 }}", "field 'user.tags.9' is not present in the JSON body")]
    [InlineData("{{ base64_decode(\"***\") }}", "base64_decode(): the input is not valid base64")]
    [InlineData("{{ substring(\"abc\", \"x\") }}", "substring(): start must be an integer, got 'x'")]
    [InlineData("{{ \"a\" - 1 }}", "'-' needs numbers: value - value")]
    public void Render_DataErrors_AreEvaluationExceptions(string template, string message)
    {
        var error = Assert.Throws<TemplateEvaluationException>(() => Template.Parse(template).Render(Scope()));
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("static", true, true)]
    [InlineData("{{ header(\"x-a\") }}-{{ request_header(\"x-b\") }} {{ env(\"HOME\") }}", true, false)]
    [InlineData("{{ \"lit\" }}", true, false)]
    [InlineData("{{ base64_encode(header(\"x\")) }}", false, false)]
    [InlineData("{{ header(header(\"x\")) }}", false, false)]
    [InlineData("{{ header(\"bad?name\") }}", false, false)]
    [InlineData("{{ user.id }}", false, false)]
    [InlineData("{% if true %}x{% endif %}", false, false)]
    public void Analysis_KnowsWhatEnvoyCanDoNatively(string template, bool native, bool literal)
    {
        var analysis = Template.Parse(template).Analysis;
        Assert.Equal(native, analysis.IsNativelyExpressible);
        Assert.Equal(literal, analysis.IsLiteral);
    }

    [Fact]
    public void Analysis_ReportsReadsOfHeadersBodyAndJson()
    {
        var analysis = Template.Parse("{{ header(\"X-A\") }}{{ request_header(\"x-b\") }}{{ body() }}{{ a.b }}").Analysis;
        Assert.Equal(["x-a"], analysis.Headers);
        Assert.Equal(["x-b"], analysis.RequestHeaders);
        Assert.True(analysis.ReadsBody);
        Assert.True(analysis.ReadsJsonBody);
        Assert.Equal("a", analysis.FirstJsonField);
    }

    [Fact]
    public void NativeFormat_MapsHeadersToEnvoyOperators_AndEscapesPercent()
    {
        var template = Template.Parse("100% {{ header(\"x-a\") }}/{{ request_header(\":path\") }}/{{ env(\"POD\") }}");
        Assert.Equal("100%% %REQ(x-a)%/%REQ(:path)%/%ENVIRONMENT(POD)%", NativeFormat.ToEnvoyFormat(template, isResponse: false));
        Assert.Equal("100%% %RESP(x-a)%/%REQ(:path)%/%ENVIRONMENT(POD)%", NativeFormat.ToEnvoyFormat(template, isResponse: true));
    }

    [Fact]
    public void DeepNesting_IsASyntaxErrorNotAStackOverflow()
    {
        var deep = "{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}";
        var error = Assert.Throws<TemplateSyntaxException>(() => Template.Parse(deep));
        Assert.Contains("nested more than 64 levels", error.Problem, StringComparison.Ordinal);
        var negations = "{{ " + string.Concat(Enumerable.Repeat("not ", 5000)) + "true }}";
        Assert.Throws<TemplateSyntaxException>(() => Template.Parse(negations));
    }

    [Fact]
    public void Fuzz_RandomInput_OnlyEverThrowsTheDocumentedExceptions()
    {
        var alphabet = "{}%#-()[].,'\"\\ab_01 +~|*<>=!\n".ToCharArray();
        var pieces = new[] { "{{", "}}", "{%", "%}", "{#", "#}", "if ", "else", "endif", "header(", "\"x\"", "user.id", " and ", " not ", "substring(", ")" };
        var random = new Random(20261128);
        var scope = Scope();
        for (var i = 0; i < 20_000; i++)
        {
            var builder = new StringBuilder();
            var length = random.Next(0, 40);
            for (var j = 0; j < length; j++)
            {
                if (random.Next(3) == 0)
                {
                    builder.Append(pieces[random.Next(pieces.Length)]);
                }
                else
                {
                    builder.Append(alphabet[random.Next(alphabet.Length)]);
                }
            }

            var source = builder.ToString();
            try
            {
                Template.Parse(source).Render(scope);
            }
            catch (TemplateSyntaxException ex)
            {
                Assert.InRange(ex.Position, 0, source.Length);
            }
            catch (TemplateEvaluationException)
            {
                // A data error on valid syntax: expected for random input.
            }
        }
    }
}
