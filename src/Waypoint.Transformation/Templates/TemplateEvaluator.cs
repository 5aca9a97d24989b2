using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Waypoint.Transformation.Templates;

internal static class TemplateEvaluator
{
    [ThreadStatic]
    private static StringBuilder? t_builder;

    public static StringBuilder RentBuilder()
    {
        var builder = t_builder ?? new StringBuilder(256);
        t_builder = null;
        return builder;
    }

    public static void ReturnBuilder(StringBuilder builder)
    {
        if (builder.Capacity <= 64 * 1024)
        {
            builder.Clear();
            t_builder = builder;
        }
    }

    public static void Render(IReadOnlyList<TemplateNode> nodes, TemplateScope scope, StringBuilder output)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode text:
                    output.Append(text.Text);
                    break;
                case OutputNode { Expression: var expression }:
                    var value = Evaluate(expression, scope);
                    if (value.Kind == TemplateValueKind.Missing)
                    {
                        throw new TemplateEvaluationException($"{Describe(expression)} is not present in the JSON body");
                    }

                    value.AppendTo(output);
                    break;
                case IfNode conditional:
                    var taken = false;
                    foreach (var (condition, body) in conditional.Branches)
                    {
                        if (Evaluate(condition, scope).IsTruthy)
                        {
                            Render(body, scope, output);
                            taken = true;
                            break;
                        }
                    }

                    if (!taken && conditional.Else is { } otherwise)
                    {
                        Render(otherwise, scope, output);
                    }

                    break;
            }
        }
    }

    private static TemplateValue Evaluate(TemplateExpression expression, TemplateScope scope)
    {
        switch (expression)
        {
            case LiteralExpression literal:
                return literal.Value;
            case VariableExpression variable:
                if (scope.Json is not { ValueKind: JsonValueKind.Object } root)
                {
                    return TemplateValue.Missing;
                }

                return root.TryGetProperty(variable.Name, out var field) ? TemplateValue.FromJson(field) : TemplateValue.Missing;
            case MemberExpression member:
                return Member(Evaluate(member.Target, scope), Evaluate(member.Key, scope));
            case CallExpression call:
                return Call(call, scope);
            case NotExpression not:
                return TemplateValue.FromBoolean(!Evaluate(not.Operand, scope).IsTruthy);
            case NegateExpression negate:
                var operand = Evaluate(negate.Operand, scope);
                return operand.TryGetNumber(out var n)
                    ? TemplateValue.FromNumber(-n)
                    : throw new TemplateEvaluationException($"cannot negate {Describe(negate.Operand)}: not a number");
            case BinaryExpression binary:
                return Binary(binary, scope);
            default:
                throw new TemplateEvaluationException($"unsupported expression {expression.GetType().Name}");
        }
    }

    private static TemplateValue Member(TemplateValue target, TemplateValue key)
    {
        if (!target.TryGetJson(out var element))
        {
            return TemplateValue.Missing;
        }

        if (element.ValueKind == JsonValueKind.Object)
        {
            return element.TryGetProperty(key.AsString(), out var property) ? TemplateValue.FromJson(property) : TemplateValue.Missing;
        }

        if (element.ValueKind == JsonValueKind.Array && key.TryGetNumber(out var number) && number >= 0 && number == Math.Floor(number) && number < element.GetArrayLength())
        {
            return TemplateValue.FromJson(element[(int)number]);
        }

        return TemplateValue.Missing;
    }

    private static TemplateValue Binary(BinaryExpression binary, TemplateScope scope)
    {
        switch (binary.Operator)
        {
            case BinaryOperator.And:
                return TemplateValue.FromBoolean(Evaluate(binary.Left, scope).IsTruthy && Evaluate(binary.Right, scope).IsTruthy);
            case BinaryOperator.Or:
                return TemplateValue.FromBoolean(Evaluate(binary.Left, scope).IsTruthy || Evaluate(binary.Right, scope).IsTruthy);
        }

        var left = Evaluate(binary.Left, scope);
        var right = Evaluate(binary.Right, scope);
        var numeric = left.TryGetNumber(out var l) & right.TryGetNumber(out var r);
        switch (binary.Operator)
        {
            case BinaryOperator.Plus when numeric:
                return TemplateValue.FromNumber(l + r);
            case BinaryOperator.Minus when numeric:
                return TemplateValue.FromNumber(l - r);
            case BinaryOperator.Minus:
                throw new TemplateEvaluationException($"'-' needs numbers: {Describe(binary.Left)} - {Describe(binary.Right)}");
            case BinaryOperator.Plus or BinaryOperator.Concat:
                RequirePresent(left, binary.Left);
                RequirePresent(right, binary.Right);
                return TemplateValue.FromString(string.Concat(left.AsString(), right.AsString()));
            case BinaryOperator.Equal:
                return TemplateValue.FromBoolean(numeric ? l == r : left.Kind == right.Kind || IsText(left) && IsText(right) ? left.AsString() == right.AsString() : false);
            case BinaryOperator.NotEqual:
                return TemplateValue.FromBoolean(!(numeric ? l == r : left.Kind == right.Kind || IsText(left) && IsText(right) ? left.AsString() == right.AsString() : false));
            default:
                var comparison = numeric ? l.CompareTo(r) : string.CompareOrdinal(left.AsString(), right.AsString());
                return TemplateValue.FromBoolean(binary.Operator switch
                {
                    BinaryOperator.Less => comparison < 0,
                    BinaryOperator.LessOrEqual => comparison <= 0,
                    BinaryOperator.Greater => comparison > 0,
                    _ => comparison >= 0,
                });
        }
    }

    private static bool IsText(TemplateValue value) => value.Kind is TemplateValueKind.String or TemplateValueKind.Json;

    private static void RequirePresent(TemplateValue value, TemplateExpression expression)
    {
        if (value.Kind == TemplateValueKind.Missing)
        {
            throw new TemplateEvaluationException($"{Describe(expression)} is not present in the JSON body");
        }
    }

    private static TemplateValue Call(CallExpression call, TemplateScope scope)
    {
        var args = call.Arguments;
        switch (call.Function)
        {
            case TemplateFunction.Header:
                return TemplateValue.FromString(scope.Header(Text(args[0], scope, "header")));
            case TemplateFunction.RequestHeader:
                return TemplateValue.FromString(scope.RequestHeader(Text(args[0], scope, "request_header")));
            case TemplateFunction.Body:
                return TemplateValue.FromString(scope.BodyText);
            case TemplateFunction.Context:
                return scope.Json is { } json ? TemplateValue.FromJson(json) : TemplateValue.Missing;
            case TemplateFunction.Env:
                return TemplateValue.FromString(scope.Environment(Text(args[0], scope, "env")) ?? string.Empty);
            case TemplateFunction.Base64Encode:
                return TemplateValue.FromString(Convert.ToBase64String(Encoding.UTF8.GetBytes(Text(args[0], scope, "base64_encode"))));
            case TemplateFunction.Base64Decode:
                return TemplateValue.FromString(DecodeBase64(Text(args[0], scope, "base64_decode")));
            case TemplateFunction.Substring:
                return TemplateValue.FromString(Substring(
                    Text(args[0], scope, "substring"),
                    Integer(args[1], scope, "substring", "start"),
                    args.Count > 2 ? Integer(args[2], scope, "substring", "length") : 0));
            case TemplateFunction.RawString:
                return TemplateValue.FromString(RawString(Text(args[0], scope, "raw_string")));
            default:
                throw new TemplateEvaluationException($"unsupported function {call.Function}");
        }
    }

    private static string Text(TemplateExpression argument, TemplateScope scope, string function)
    {
        var value = Evaluate(argument, scope);
        if (value.Kind == TemplateValueKind.Missing)
        {
            throw new TemplateEvaluationException($"argument of {function}(): {Describe(argument)} is not present in the JSON body");
        }

        return value.AsString();
    }

    private static long Integer(TemplateExpression argument, TemplateScope scope, string function, string parameter)
    {
        var value = Evaluate(argument, scope);
        if (value.TryGetNumber(out var number) && number == Math.Floor(number) && Math.Abs(number) < int.MaxValue)
        {
            return (long)number;
        }

        if (value.Kind == TemplateValueKind.String && long.TryParse(value.AsString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
        {
            return parsed;
        }

        throw new TemplateEvaluationException($"{function}(): {parameter} must be an integer, got '{value.AsString()}'");
    }

    /// <summary>kgateway semantics: a start outside the string gives ""; a length ≤ 0 or past the end takes the rest.</summary>
    internal static string Substring(string value, long start, long length)
    {
        if (start < 0 || start >= value.Length)
        {
            return string.Empty;
        }

        var available = value.Length - start;
        return value.Substring((int)start, (int)(length <= 0 || length > available ? available : length));
    }

    private static string DecodeBase64(string value)
    {
        var trimmed = value.AsSpan().Trim();
        var maxLength = Base64.GetMaxDecodedFromUtf8Length(trimmed.Length);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(maxLength, 1));
        try
        {
            if (!Convert.TryFromBase64Chars(trimmed, buffer, out var written))
            {
                throw new TemplateEvaluationException("base64_decode(): the input is not valid base64");
            }

            return Encoding.UTF8.GetString(buffer, 0, written);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The string JSON-escaped without the surrounding quotes, so it can be spliced into a JSON document.</summary>
    private static string RawString(string value)
    {
        var encoded = JsonEncodedText.Encode(value, JavaScriptEncoder.UnsafeRelaxedJsonEscaping);
        return encoded.Value;
    }

    private static string Describe(TemplateExpression expression) => expression switch
    {
        VariableExpression variable => $"field '{variable.Name}'",
        MemberExpression member => $"field '{Path(member)}'",
        CallExpression call => $"{call.Function}()",
        _ => "value",
    };

    private static string Path(TemplateExpression expression) => expression switch
    {
        VariableExpression variable => variable.Name,
        MemberExpression { Key: LiteralExpression key } member => Path(member.Target) + "." + key.Value.AsString(),
        MemberExpression member => Path(member.Target) + "[…]",
        CallExpression { Function: TemplateFunction.Context } => "context()",
        _ => "…",
    };
}
