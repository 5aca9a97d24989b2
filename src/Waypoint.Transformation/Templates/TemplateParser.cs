using System.Globalization;
using System.Text;

namespace Waypoint.Transformation.Templates;

/// <summary>
/// Recursive-descent parser for the supported Inja subset. Every failure is a <see cref="TemplateSyntaxException"/>
/// carrying the position; nesting is bounded so hostile input cannot exhaust the stack.
/// </summary>
internal sealed class TemplateParser
{
    private const int MaxDepth = 64;

    private static readonly Dictionary<string, (TemplateFunction Function, int MinArgs, int MaxArgs)> s_functions = new(StringComparer.Ordinal)
    {
        ["header"] = (TemplateFunction.Header, 1, 1),
        ["request_header"] = (TemplateFunction.RequestHeader, 1, 1),
        ["body"] = (TemplateFunction.Body, 0, 0),
        ["context"] = (TemplateFunction.Context, 0, 0),
        ["env"] = (TemplateFunction.Env, 1, 1),
        ["base64_encode"] = (TemplateFunction.Base64Encode, 1, 1),
        ["base64_decode"] = (TemplateFunction.Base64Decode, 1, 1),
        ["substring"] = (TemplateFunction.Substring, 2, 3),
        ["raw_string"] = (TemplateFunction.RawString, 1, 1),
    };

    private readonly string _s;
    private int _p;
    private int _depth;

    private TemplateParser(string source)
    {
        _s = source;
    }

    internal static string SupportedFunctions => string.Join(", ", s_functions.Keys.Select(k => k + "()"));

    public static IReadOnlyList<TemplateNode> Parse(string source)
    {
        var parser = new TemplateParser(source);
        var segments = parser.Tokenize();
        var index = 0;
        var nodes = BuildBlock(source, segments, ref index, out var terminator);
        if (terminator is not null)
        {
            throw new TemplateSyntaxException(source, terminator.Position, $"'{{% {terminator.Keyword} %}}' without a matching '{{% if %}}'");
        }

        return nodes;
    }

    // ---- Segments: text, {{ output }}, {% statement %}; whitespace control applied afterwards. ----

    private abstract record Segment(int Position)
    {
        public bool TrimBefore { get; init; }

        public bool TrimAfter { get; init; }
    }

    private sealed record TextSegment(int Position, string Text) : Segment(Position);

    private sealed record OutputSegment(int Position, TemplateExpression Expression) : Segment(Position);

    private sealed record StatementSegment(int Position, string Keyword, TemplateExpression? Condition) : Segment(Position);

    private sealed record CommentSegment(int Position) : Segment(Position);

    private List<Segment> Tokenize()
    {
        var segments = new List<Segment>();
        while (_p < _s.Length)
        {
            var open = FindOpening(_p);
            if (open < 0)
            {
                segments.Add(new TextSegment(_p, _s[_p..]));
                break;
            }

            if (open > _p)
            {
                segments.Add(new TextSegment(_p, _s[_p..open]));
            }

            var kind = _s[open + 1];
            _p = open + 2;
            var trimBefore = TryConsume("-");
            switch (kind)
            {
                case '#':
                    var end = _s.IndexOf("#}", _p, StringComparison.Ordinal);
                    if (end < 0)
                    {
                        throw Error(open, "unterminated comment: '{#' without '#}'");
                    }

                    segments.Add(new CommentSegment(open) { TrimBefore = trimBefore, TrimAfter = end > _p && _s[end - 1] == '-' });
                    _p = end + 2;
                    break;
                case '{':
                    var expression = ParseExpression();
                    SkipWhitespace();
                    segments.Add(new OutputSegment(open, expression) { TrimBefore = trimBefore, TrimAfter = ExpectClose("}}", open) });
                    break;
                default:
                    segments.Add(ParseStatement(open) with { TrimBefore = trimBefore });
                    break;
            }
        }

        // Whitespace control: '{{-' trims the text before, '-}}' the text after (Inja/Jinja semantics).
        for (var i = 0; i < segments.Count; i++)
        {
            if (segments[i] is TextSegment text)
            {
                var value = text.Text;
                if (i > 0 && segments[i - 1].TrimAfter)
                {
                    value = value.TrimStart();
                }

                if (i + 1 < segments.Count && segments[i + 1].TrimBefore)
                {
                    value = value.TrimEnd();
                }

                segments[i] = text with { Text = value };
            }
        }

        return segments;
    }

    private int FindOpening(int from)
    {
        while (true)
        {
            var brace = _s.IndexOf('{', from);
            if (brace < 0 || brace + 1 >= _s.Length)
            {
                return -1;
            }

            var next = _s[brace + 1];
            if (next is '{' or '%' or '#')
            {
                return brace;
            }

            from = brace + 1;
        }
    }

    private StatementSegment ParseStatement(int open)
    {
        SkipWhitespace();
        var keywordStart = _p;
        var keyword = ReadIdentifier();
        if (keyword is null)
        {
            throw Error(_p, "expected a statement keyword after '{%'");
        }

        TemplateExpression? condition = null;
        switch (keyword)
        {
            case "if":
            case "elif":
                condition = ParseExpression();
                break;
            case "else":
                SkipWhitespace();
                var save = _p;
                if (ReadIdentifier() == "if")
                {
                    keyword = "elif";
                    condition = ParseExpression();
                }
                else
                {
                    _p = save;
                }

                break;
            case "endif":
                break;
            default:
                throw Error(keywordStart, $"'{{% {keyword} %}}' statements are not supported (supported: if, else if, else, endif)");
        }

        SkipWhitespace();
        var trimAfter = ExpectClose("%}", open);
        return new StatementSegment(open, keyword, condition) { TrimAfter = trimAfter };
    }

    private bool ExpectClose(string close, int open)
    {
        if (TryConsume("-" + close))
        {
            return true;
        }

        if (TryConsume(close))
        {
            return false;
        }

        if (_p >= _s.Length)
        {
            throw Error(open, $"unterminated '{_s.Substring(open, 2)}': expected '{close}' before the end of the template");
        }

        throw Error(_p, $"expected '{close}' but found {Describe(_p)}");
    }

    private static List<TemplateNode> BuildBlock(string source, List<Segment> segments, ref int index, out StatementSegment? terminator)
    {
        var nodes = new List<TemplateNode>();
        while (index < segments.Count)
        {
            var segment = segments[index++];
            switch (segment)
            {
                case TextSegment text when text.Text.Length > 0:
                    nodes.Add(new TextNode(text.Position, text.Text));
                    break;
                case OutputSegment output:
                    nodes.Add(new OutputNode(output.Position, output.Expression));
                    break;
                case StatementSegment { Keyword: "if" } statement:
                    nodes.Add(BuildIf(source, segments, ref index, statement));
                    break;
                case StatementSegment statement:
                    terminator = statement;
                    return nodes;
            }
        }

        terminator = null;
        return nodes;
    }

    private static IfNode BuildIf(string source, List<Segment> segments, ref int index, StatementSegment opening)
    {
        var branches = new List<(TemplateExpression, IReadOnlyList<TemplateNode>)>();
        var condition = opening.Condition!;
        while (true)
        {
            var body = BuildBlock(source, segments, ref index, out var terminator);
            branches.Add((condition, body));
            switch (terminator?.Keyword)
            {
                case null:
                    throw new TemplateSyntaxException(source, opening.Position, "'{% if %}' without a matching '{% endif %}'");
                case "endif":
                    return new IfNode(opening.Position, branches, null);
                case "elif":
                    condition = terminator.Condition!;
                    continue;
                case "else":
                    var elseBody = BuildBlock(source, segments, ref index, out var end);
                    if (end?.Keyword != "endif")
                    {
                        throw new TemplateSyntaxException(source, end?.Position ?? opening.Position,
                            end is null ? "'{% if %}' without a matching '{% endif %}'" : $"'{{% {end.Keyword} %}}' after '{{% else %}}'");
                    }

                    return new IfNode(opening.Position, branches, elseBody);
            }
        }
    }

    // ---- Expressions ----

    private TemplateExpression ParseExpression()
    {
        if (++_depth > MaxDepth)
        {
            throw Error(_p, $"expression nested more than {MaxDepth} levels deep");
        }

        var result = ParseOr();
        _depth--;
        return result;
    }

    private TemplateExpression ParseOr()
    {
        var left = ParseAnd();
        while (TryKeyword("or", out var at))
        {
            left = new BinaryExpression(at, BinaryOperator.Or, left, ParseAnd());
        }

        return left;
    }

    private TemplateExpression ParseAnd()
    {
        var left = ParseNot();
        while (TryKeyword("and", out var at))
        {
            left = new BinaryExpression(at, BinaryOperator.And, left, ParseNot());
        }

        return left;
    }

    private TemplateExpression ParseNot()
    {
        if (TryKeyword("not", out var at))
        {
            Enter(at);
            var operand = ParseNot();
            _depth--;
            return new NotExpression(at, operand);
        }

        return ParseComparison();
    }

    private TemplateExpression ParseComparison()
    {
        var left = ParseAdditive();
        SkipWhitespace();
        var at = _p;
        BinaryOperator? op =
            TryConsume("==") ? BinaryOperator.Equal :
            TryConsume("!=") ? BinaryOperator.NotEqual :
            TryConsume("<=") ? BinaryOperator.LessOrEqual :
            TryConsume(">=") ? BinaryOperator.GreaterOrEqual :
            TryConsume("<") ? BinaryOperator.Less :
            TryConsume(">") ? BinaryOperator.Greater : null;
        return op is null ? left : new BinaryExpression(at, op.Value, left, ParseAdditive());
    }

    private TemplateExpression ParseAdditive()
    {
        var left = ParseUnary();
        while (true)
        {
            SkipWhitespace();
            var at = _p;
            if (_p >= _s.Length)
            {
                return left;
            }

            BinaryOperator op;
            switch (_s[_p])
            {
                case '~':
                    op = BinaryOperator.Concat;
                    break;
                case '+':
                    op = BinaryOperator.Plus;
                    break;
                case '-' when !LooksLikeTrimClose(_p):
                    op = BinaryOperator.Minus;
                    break;
                case '*' or '/' or '%' when !(_s[_p] == '%' && _p + 1 < _s.Length && _s[_p + 1] == '}'):
                    throw Error(_p, $"operator '{_s[_p]}' is not supported (supported: + and ~ to concatenate, - on numbers, comparisons, and/or/not)");
                case '|':
                    throw Error(_p, "filters ('|') are not supported; call functions instead, e.g. base64_encode(x)");
                default:
                    return left;
            }

            _p++;
            left = new BinaryExpression(at, op, left, ParseUnary());
        }
    }

    private bool LooksLikeTrimClose(int at) =>
        string.CompareOrdinal(_s, at, "-}}", 0, 3) == 0 || string.CompareOrdinal(_s, at, "-%}", 0, 3) == 0;

    private TemplateExpression ParseUnary()
    {
        SkipWhitespace();
        if (_p < _s.Length && _s[_p] == '-' && !LooksLikeTrimClose(_p))
        {
            var at = _p++;
            Enter(at);
            var operand = ParseUnary();
            _depth--;
            return new NegateExpression(at, operand);
        }

        return ParsePostfix();
    }

    private TemplateExpression ParsePostfix()
    {
        var expression = ParsePrimary();
        while (true)
        {
            // No whitespace before '.': Inja paths are written solid (a.b.c).
            if (_p < _s.Length && _s[_p] == '.')
            {
                var at = _p++;
                var digitsStart = _p;
                while (_p < _s.Length && char.IsAsciiDigit(_s[_p]))
                {
                    _p++;
                }

                if (_p > digitsStart)
                {
                    var index = double.Parse(_s.AsSpan(digitsStart, _p - digitsStart), CultureInfo.InvariantCulture);
                    expression = new MemberExpression(at, expression, new LiteralExpression(digitsStart, TemplateValue.FromNumber(index)));
                    continue;
                }

                var name = ReadIdentifier() ?? throw Error(_p, $"expected a field name or index after '.', found {Describe(_p)}");
                expression = new MemberExpression(at, expression, new LiteralExpression(at + 1, TemplateValue.FromString(name)));
                continue;
            }

            SkipWhitespace();
            if (_p < _s.Length && _s[_p] == '[')
            {
                var at = _p++;
                var key = ParseExpression();
                SkipWhitespace();
                if (!TryConsume("]"))
                {
                    throw Error(_p, $"expected ']' but found {Describe(_p)}");
                }

                expression = new MemberExpression(at, expression, key);
                continue;
            }

            return expression;
        }
    }

    private TemplateExpression ParsePrimary()
    {
        SkipWhitespace();
        if (_p >= _s.Length)
        {
            throw Error(_p, "expected an expression but the template ended");
        }

        var at = _p;
        var c = _s[_p];
        if (c is '"' or '\'')
        {
            return new LiteralExpression(at, TemplateValue.FromString(ReadString()));
        }

        if (char.IsAsciiDigit(c))
        {
            while (_p < _s.Length && char.IsAsciiDigit(_s[_p]))
            {
                _p++;
            }

            if (_p + 1 < _s.Length && _s[_p] == '.' && char.IsAsciiDigit(_s[_p + 1]))
            {
                _p++;
                while (_p < _s.Length && char.IsAsciiDigit(_s[_p]))
                {
                    _p++;
                }
            }

            if (!double.TryParse(_s.AsSpan(at, _p - at), NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || double.IsInfinity(number))
            {
                throw Error(at, "number out of range");
            }

            return new LiteralExpression(at, TemplateValue.FromNumber(number));
        }

        if (c == '(')
        {
            _p++;
            var inner = ParseExpression();
            SkipWhitespace();
            if (!TryConsume(")"))
            {
                throw Error(_p, $"expected ')' but found {Describe(_p)}");
            }

            return inner;
        }

        var name = ReadIdentifier() ?? throw Error(at, $"expected an expression but found {Describe(at)}");
        switch (name)
        {
            case "true":
                return new LiteralExpression(at, TemplateValue.True);
            case "false":
                return new LiteralExpression(at, TemplateValue.False);
            case "null":
                return new LiteralExpression(at, TemplateValue.Null);
            case "and" or "or" or "not":
                throw Error(at, $"expected an expression but found the keyword '{name}'");
        }

        var afterName = _p;
        SkipWhitespace();
        if (_p < _s.Length && _s[_p] == '(')
        {
            return ParseCall(at, name);
        }

        _p = afterName;
        return new VariableExpression(at, name);
    }

    private CallExpression ParseCall(int at, string name)
    {
        if (!s_functions.TryGetValue(name, out var function))
        {
            throw Error(at, name == "replace_with_random"
                ? "function 'replace_with_random' is not supported by Waypoint"
                : $"unknown function '{name}' (supported: {SupportedFunctions})");
        }

        _p++; // '('
        var arguments = new List<TemplateExpression>();
        SkipWhitespace();
        if (!TryConsume(")"))
        {
            while (true)
            {
                arguments.Add(ParseExpression());
                SkipWhitespace();
                if (TryConsume(")"))
                {
                    break;
                }

                if (!TryConsume(","))
                {
                    throw Error(_p, $"expected ',' or ')' in the arguments of {name}() but found {Describe(_p)}");
                }
            }
        }

        if (arguments.Count < function.MinArgs || arguments.Count > function.MaxArgs)
        {
            var expected = function.MinArgs == function.MaxArgs
                ? $"{function.MinArgs} argument{(function.MinArgs == 1 ? "" : "s")}"
                : $"{function.MinArgs} to {function.MaxArgs} arguments";
            throw Error(at, $"{name}() takes {expected}, got {arguments.Count}");
        }

        return new CallExpression(at, function.Function, arguments);
    }

    private string ReadString()
    {
        var quote = _s[_p];
        var start = _p++;
        StringBuilder? builder = null;
        var runStart = _p;
        while (true)
        {
            if (_p >= _s.Length)
            {
                throw Error(start, "unterminated string literal");
            }

            var c = _s[_p];
            if (c == quote)
            {
                var tail = _s[runStart.._p];
                _p++;
                return builder is null ? tail : builder.Append(tail).ToString();
            }

            if (c != '\\')
            {
                _p++;
                continue;
            }

            builder ??= new StringBuilder();
            builder.Append(_s, runStart, _p - runStart);
            if (_p + 1 >= _s.Length)
            {
                throw Error(start, "unterminated string literal");
            }

            var escape = _s[_p + 1];
            _p += 2;
            switch (escape)
            {
                case '"' or '\'' or '\\' or '/':
                    builder.Append(escape);
                    break;
                case 'n':
                    builder.Append('\n');
                    break;
                case 't':
                    builder.Append('\t');
                    break;
                case 'r':
                    builder.Append('\r');
                    break;
                case 'b':
                    builder.Append('\b');
                    break;
                case 'f':
                    builder.Append('\f');
                    break;
                case 'u' when _p + 4 <= _s.Length && ushort.TryParse(_s.AsSpan(_p, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code):
                    builder.Append((char)code);
                    _p += 4;
                    break;
                default:
                    throw Error(_p - 2, $"invalid escape sequence '\\{escape}' in string literal");
            }

            runStart = _p;
        }
    }

    private string? ReadIdentifier()
    {
        if (_p >= _s.Length || !(char.IsAsciiLetter(_s[_p]) || _s[_p] == '_'))
        {
            return null;
        }

        var start = _p;
        while (_p < _s.Length && (char.IsAsciiLetterOrDigit(_s[_p]) || _s[_p] == '_'))
        {
            _p++;
        }

        return _s[start.._p];
    }

    private bool TryKeyword(string keyword, out int at)
    {
        SkipWhitespace();
        at = _p;
        if (string.CompareOrdinal(_s, _p, keyword, 0, keyword.Length) == 0
            && (_p + keyword.Length >= _s.Length || !(char.IsAsciiLetterOrDigit(_s[_p + keyword.Length]) || _s[_p + keyword.Length] == '_')))
        {
            _p += keyword.Length;
            return true;
        }

        return false;
    }

    private bool TryConsume(string text)
    {
        if (string.CompareOrdinal(_s, _p, text, 0, text.Length) == 0 && _p + text.Length <= _s.Length)
        {
            _p += text.Length;
            return true;
        }

        return false;
    }

    private void SkipWhitespace()
    {
        while (_p < _s.Length && char.IsWhiteSpace(_s[_p]))
        {
            _p++;
        }
    }

    private void Enter(int at)
    {
        if (++_depth > MaxDepth)
        {
            throw Error(at, $"expression nested more than {MaxDepth} levels deep");
        }
    }

    private string Describe(int at) => at >= _s.Length ? "the end of the template" : $"'{_s[at]}'";

    private TemplateSyntaxException Error(int position, string problem) => new(_s, position, problem);
}
