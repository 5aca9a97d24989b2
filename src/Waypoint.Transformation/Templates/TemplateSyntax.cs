namespace Waypoint.Transformation.Templates;

/// <summary>The built-in functions of the supported template subset.</summary>
internal enum TemplateFunction
{
    Header,
    RequestHeader,
    Body,
    Context,
    Env,
    Base64Encode,
    Base64Decode,
    Substring,
    RawString,
}

internal enum BinaryOperator
{
    Concat,
    Plus,
    Minus,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
}

internal abstract record TemplateNode(int Position);

internal sealed record TextNode(int Position, string Text) : TemplateNode(Position);

internal sealed record OutputNode(int Position, TemplateExpression Expression) : TemplateNode(Position);

/// <summary><c>{% if %}</c> … <c>{% else if %}</c> … <c>{% else %}</c> … <c>{% endif %}</c>.</summary>
internal sealed record IfNode(int Position, IReadOnlyList<(TemplateExpression Condition, IReadOnlyList<TemplateNode> Body)> Branches, IReadOnlyList<TemplateNode>? Else)
    : TemplateNode(Position);

internal abstract record TemplateExpression(int Position);

internal sealed record LiteralExpression(int Position, TemplateValue Value) : TemplateExpression(Position)
{
    public string? StringValue => Value.Kind == TemplateValueKind.String ? Value.AsString() : null;
}

/// <summary>A top-level name: a field of the parsed JSON body (<c>{{ user.id }}</c>).</summary>
internal sealed record VariableExpression(int Position, string Name) : TemplateExpression(Position);

/// <summary><c>target.name</c>, <c>target.0</c>, <c>target["name"]</c> or <c>target[0]</c>.</summary>
internal sealed record MemberExpression(int Position, TemplateExpression Target, TemplateExpression Key) : TemplateExpression(Position);

internal sealed record CallExpression(int Position, TemplateFunction Function, IReadOnlyList<TemplateExpression> Arguments) : TemplateExpression(Position);

internal sealed record BinaryExpression(int Position, BinaryOperator Operator, TemplateExpression Left, TemplateExpression Right) : TemplateExpression(Position);

internal sealed record NotExpression(int Position, TemplateExpression Operand) : TemplateExpression(Position);

internal sealed record NegateExpression(int Position, TemplateExpression Operand) : TemplateExpression(Position);
