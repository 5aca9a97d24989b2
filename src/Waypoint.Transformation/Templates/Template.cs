using System.Text;

namespace Waypoint.Transformation.Templates;

/// <summary>
/// A parsed Inja-style template (the subset documented in docs/trafficpolicy.md). Immutable and thread-safe;
/// parse once, render many times.
/// </summary>
public sealed class Template
{
    private readonly IReadOnlyList<TemplateNode> _nodes;

    private Template(string source, IReadOnlyList<TemplateNode> nodes)
    {
        Source = source;
        _nodes = nodes;
        Analysis = TemplateAnalysis.Of(nodes);
    }

    public string Source { get; }

    /// <summary>What the template reads; decides whether Envoy can evaluate it natively and what must be buffered.</summary>
    public TemplateAnalysis Analysis { get; }

    internal IReadOnlyList<TemplateNode> Nodes => _nodes;

    /// <summary>Parses <paramref name="source"/>; throws <see cref="TemplateSyntaxException"/> (only) when it is not in the supported subset.</summary>
    public static Template Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new Template(source, TemplateParser.Parse(source));
    }

    public static bool TryParse(string source, out Template? template, out TemplateSyntaxException? error)
    {
        try
        {
            template = Parse(source);
            error = null;
            return true;
        }
        catch (TemplateSyntaxException ex)
        {
            template = null;
            error = ex;
            return false;
        }
    }

    /// <summary>Renders against <paramref name="scope"/>; throws <see cref="TemplateEvaluationException"/> (only) on a data error.</summary>
    public string Render(TemplateScope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (_nodes.Count == 1 && _nodes[0] is TextNode only)
        {
            return only.Text;
        }

        var builder = TemplateEvaluator.RentBuilder();
        try
        {
            TemplateEvaluator.Render(_nodes, scope, builder);
            return builder.ToString();
        }
        finally
        {
            TemplateEvaluator.ReturnBuilder(builder);
        }
    }

    public override string ToString() => Source;
}

/// <summary>Static facts about a template.</summary>
public sealed record TemplateAnalysis
{
    /// <summary>Names passed to <c>header("…")</c> as literals (lower-cased).</summary>
    public IReadOnlySet<string> Headers { get; init; } = new HashSet<string>();

    /// <summary>Names passed to <c>request_header("…")</c> as literals (lower-cased).</summary>
    public IReadOnlySet<string> RequestHeaders { get; init; } = new HashSet<string>();

    /// <summary>header()/request_header() is called with a computed name, so any header may be read.</summary>
    public bool ReadsDynamicHeaderNames { get; init; }

    /// <summary>Calls <c>body()</c>.</summary>
    public bool ReadsBody { get; init; }

    /// <summary>Reads the parsed JSON body: a top-level name (<c>{{ a.b }}</c>) or <c>context()</c>.</summary>
    public bool ReadsJsonBody { get; init; }

    /// <summary>The first JSON field read, for error messages.</summary>
    public string? FirstJsonField { get; init; }

    /// <summary>
    /// The template is literal text and header()/request_header()/env() calls with literal arguments only,
    /// so Envoy's own substitution formatters (<c>%REQ()%</c>, <c>%RESP()%</c>, <c>%ENVIRONMENT()%</c>) can produce it.
    /// </summary>
    public bool IsNativelyExpressible { get; init; }

    /// <summary>The template contains no <c>{{ }}</c> or <c>{% %}</c> at all.</summary>
    public bool IsLiteral { get; init; }

    internal static TemplateAnalysis Of(IReadOnlyList<TemplateNode> nodes)
    {
        var walker = new Walker();
        foreach (var node in nodes)
        {
            walker.Visit(node);
        }

        var native = true;
        foreach (var node in nodes)
        {
            native &= node switch
            {
                TextNode => true,
                OutputNode { Expression: LiteralExpression { Value.Kind: TemplateValueKind.String } } => true,
                OutputNode { Expression: CallExpression { Function: TemplateFunction.Header or TemplateFunction.RequestHeader or TemplateFunction.Env } call }
                    => call.Arguments[0] is LiteralExpression { StringValue: { } name } && NativeFormat.IsSafeOperand(name),
                _ => false,
            };
        }

        return new TemplateAnalysis
        {
            Headers = walker.Headers,
            RequestHeaders = walker.RequestHeaders,
            ReadsDynamicHeaderNames = walker.DynamicHeaderNames,
            ReadsBody = walker.Body,
            ReadsJsonBody = walker.Json,
            FirstJsonField = walker.FirstJsonField,
            IsNativelyExpressible = native,
            IsLiteral = nodes.All(n => n is TextNode),
        };
    }

    private sealed class Walker
    {
        public HashSet<string> Headers { get; } = new(StringComparer.Ordinal);

        public HashSet<string> RequestHeaders { get; } = new(StringComparer.Ordinal);

        public bool DynamicHeaderNames { get; private set; }

        public bool Body { get; private set; }

        public bool Json { get; private set; }

        public string? FirstJsonField { get; private set; }

        public void Visit(TemplateNode node)
        {
            switch (node)
            {
                case OutputNode output:
                    Visit(output.Expression);
                    break;
                case IfNode conditional:
                    foreach (var (condition, body) in conditional.Branches)
                    {
                        Visit(condition);
                        foreach (var child in body)
                        {
                            Visit(child);
                        }
                    }

                    foreach (var child in conditional.Else ?? [])
                    {
                        Visit(child);
                    }

                    break;
            }
        }

        private void Visit(TemplateExpression expression)
        {
            switch (expression)
            {
                case VariableExpression variable:
                    Json = true;
                    FirstJsonField ??= variable.Name;
                    break;
                case MemberExpression member:
                    Visit(member.Target);
                    Visit(member.Key);
                    break;
                case CallExpression call:
                    switch (call.Function)
                    {
                        case TemplateFunction.Header or TemplateFunction.RequestHeader:
                            if (call.Arguments[0] is LiteralExpression { StringValue: { } name })
                            {
                                (call.Function == TemplateFunction.Header ? Headers : RequestHeaders).Add(name.ToLowerInvariant());
                            }
                            else
                            {
                                DynamicHeaderNames = true;
                            }

                            break;
                        case TemplateFunction.Body:
                            Body = true;
                            break;
                        case TemplateFunction.Context:
                            Json = true;
                            FirstJsonField ??= "context()";
                            break;
                    }

                    foreach (var argument in call.Arguments)
                    {
                        Visit(argument);
                    }

                    break;
                case BinaryExpression binary:
                    Visit(binary.Left);
                    Visit(binary.Right);
                    break;
                case NotExpression not:
                    Visit(not.Operand);
                    break;
                case NegateExpression negate:
                    Visit(negate.Operand);
                    break;
            }
        }
    }
}

/// <summary>Envoy substitution-formatter rendering of natively expressible templates.</summary>
internal static class NativeFormat
{
    /// <summary>Header/env names Envoy's <c>%REQ(x)%</c> parser takes verbatim (no '?', ')', '%', ':' after the first char, whitespace).</summary>
    public static bool IsSafeOperand(string name)
    {
        if (name.Length == 0 || name.Length > 256)
        {
            return false;
        }

        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            var ok = char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' || (c == ':' && i == 0);
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The Envoy header-value format string for a natively expressible template. <paramref name="isResponse"/> maps
    /// <c>header()</c> to <c>%RESP()%</c> (the response's own headers) instead of <c>%REQ()%</c>.
    /// </summary>
    public static string ToEnvoyFormat(Template template, bool isResponse)
    {
        var builder = new StringBuilder();
        foreach (var node in template.Nodes)
        {
            switch (node)
            {
                case TextNode text:
                    builder.Append(text.Text.Replace("%", "%%", StringComparison.Ordinal));
                    break;
                case OutputNode { Expression: LiteralExpression literal }:
                    builder.Append(literal.Value.AsString().Replace("%", "%%", StringComparison.Ordinal));
                    break;
                case OutputNode { Expression: CallExpression call }:
                    var name = ((LiteralExpression)call.Arguments[0]).StringValue!;
                    builder.Append(call.Function switch
                    {
                        TemplateFunction.Header when isResponse => $"%RESP({name})%",
                        TemplateFunction.Env => $"%ENVIRONMENT({name})%",
                        _ => $"%REQ({name})%",
                    });
                    break;
                default:
                    throw new InvalidOperationException($"Template '{template.Source}' is not natively expressible.");
            }
        }

        return builder.ToString();
    }
}
