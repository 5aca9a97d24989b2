namespace Waypoint.Transformation.Templates;

/// <summary>
/// A template that cannot be honoured: bad syntax or a construct outside the supported subset.
/// The only exception <see cref="Template.Parse"/> throws. <see cref="Message"/> names the line, column and the problem.
/// </summary>
public sealed class TemplateSyntaxException : Exception
{
    public TemplateSyntaxException()
    {
        Problem = string.Empty;
    }

    public TemplateSyntaxException(string message)
        : base(message)
    {
        Problem = message;
    }

    public TemplateSyntaxException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problem = message;
    }

    internal TemplateSyntaxException(string source, int position, string problem)
        : base(Describe(source, position, problem))
    {
        Position = position;
        (Line, Column) = LineAndColumn(source, position);
        Problem = problem;
    }

    /// <summary>Zero-based character offset into the template.</summary>
    public int Position { get; }

    /// <summary>One-based line.</summary>
    public int Line { get; }

    /// <summary>One-based column.</summary>
    public int Column { get; }

    /// <summary>What is wrong, without the position.</summary>
    public string Problem { get; }

    private static string Describe(string source, int position, string problem)
    {
        var (line, column) = LineAndColumn(source, position);
        return $"line {line}, column {column}: {problem}";
    }

    private static (int Line, int Column) LineAndColumn(string source, int position)
    {
        position = Math.Clamp(position, 0, source.Length);
        var line = 1;
        var lineStart = 0;
        for (var i = 0; i < position; i++)
        {
            if (source[i] == '\n')
            {
                line++;
                lineStart = i + 1;
            }
        }

        return (line, position - lineStart + 1);
    }
}

/// <summary>
/// A template that failed while rendering against a request or response (missing JSON field, invalid base64, body not JSON).
/// The transformation service answers such a request with an error status instead of forwarding a half-transformed message.
/// </summary>
public sealed class TemplateEvaluationException : Exception
{
    public TemplateEvaluationException()
    {
    }

    public TemplateEvaluationException(string message)
        : base(message)
    {
    }

    public TemplateEvaluationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
