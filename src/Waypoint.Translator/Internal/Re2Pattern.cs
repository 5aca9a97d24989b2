using System.Globalization;

namespace Waypoint.Translator.Internal;

/// <summary>The outcome of checking a regular expression against RE2, as Envoy compiles it.</summary>
/// <param name="Error">Why RE2 (or this checker) refuses the pattern; null when it is accepted.</param>
/// <param name="ProgramSize">
/// An upper bound of the RE2 program size Envoy compares with <c>re2.max_program_size.error_level</c> (0 when
/// <paramref name="Error"/> is a syntax error).
/// </param>
internal readonly record struct Re2Check(string? Error, long ProgramSize);

/// <summary>
/// Checks a pattern against RE2's syntax (Envoy's <c>safe_regex</c> engine, UTF-8, Perl flags) and bounds the size of
/// the program RE2 compiles it to, without RE2: .NET's regex engine accepts constructs RE2 refuses.
/// </summary>
/// <remarks>
/// <para>Syntax: what RE2 accepts, except Unicode classes (<c>\p</c>, <c>\P</c>), which are refused because their size
/// cannot be bounded cheaply. Refused like RE2: lookaround, backreferences (<c>\1</c>, <c>(?P=n)</c>), atomic groups,
/// possessive and stacked repetitions (<c>a**</c>, <c>a*+</c>), repetition counts above 1000 (also when nested),
/// <c>\Z</c> and unknown escapes.</para>
/// <para>Size: RE2 compiles the simplified expression (<c>x{2,4}</c> is <c>xx(x(x)?)?</c>) into byte-range instructions
/// (one per ASCII range of a class, one per UTF-8 byte of a literal), empty-width, capture (two per group), Alt
/// instructions for alternation and repetition, one Fail and one Match, plus an unanchored <c>.*?</c> prefix; then it
/// flattens the program, removing Alt and Nop instructions and adding at most one Nop per Alt arm. This counts every
/// instruction before flattening except the Alts of character classes (whose arms always stay in one flattened list)
/// and counts two for every other Alt, so it is never below RE2's count (tests compare it with Envoy's own).</para>
/// </remarks>
internal sealed class Re2Pattern
{
    /// <summary>RE2's limit on a repetition count, also on the product of nested counts.</summary>
    private const int MaxRepeat = 1000;
    private const long FailAndMatch = 2;
    private const long UnanchoredPrefix = 4;
    private const int MaxRune = 0x10FFFF;
    private const string NotRe2 = "is not valid RE2";

    private readonly string _pattern;
    private int _position;
    private bool _foldCase;
    private bool _dotNewline;
    private bool _multiLine;
    private int _repeatDepthProduct = 1;

    private Re2Pattern(string pattern) => _pattern = pattern;

    /// <summary>Checks <paramref name="pattern"/>: RE2 syntax, then the program size against <paramref name="maxProgramSize"/>.</summary>
    public static Re2Check Check(string pattern, int maxProgramSize)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var parser = new Re2Pattern(pattern);
        long size;
        bool anchored;
        try
        {
            (size, anchored) = parser.ParseAll();
        }
        catch (FormatException e)
        {
            return new Re2Check(e.Message, 0);
        }

        var total = FailAndMatch + (anchored ? 0 : UnanchoredPrefix) + size;
        return total > maxProgramSize
            ? new Re2Check($"may compile to an RE2 program of {total.ToString(CultureInfo.InvariantCulture)} instructions, above the limit of {maxProgramSize.ToString(CultureInfo.InvariantCulture)}", total)
            : new Re2Check(null, total);
    }

    private (long Size, bool Anchored) ParseAll()
    {
        var (size, branches, startsWithCaret) = ParseAlternation();
        if (_position < _pattern.Length)
        {
            throw Error("unexpected ')'");
        }

        return (size, branches == 1 && startsWithCaret);
    }

    private FormatException Error(string what) =>
        new($"{NotRe2}: {what} at offset {_position.ToString(CultureInfo.InvariantCulture)}");

    private bool AtEnd => _position >= _pattern.Length;

    private char Peek => _pattern[_position];

    /// <returns>The size, the number of branches, and whether the first branch starts with a bare <c>^</c> (text start).</returns>
    private (long Size, int Branches, bool StartsWithCaret) ParseAlternation()
    {
        var (size, startsWithCaret) = ParseConcatenation();
        var branches = 1;
        while (!AtEnd && Peek == '|')
        {
            _position++;
            var (branch, _) = ParseConcatenation();
            size = Add(size, Add(branch, 2));
            branches++;
        }

        return (size, branches, startsWithCaret);
    }

    private (long Size, bool StartsWithCaret) ParseConcatenation()
    {
        long size = 0;
        var items = 0;
        var startsWithCaret = false;
        // Flags set by (?i) etc. last until the end of the enclosing group.
        while (!AtEnd && Peek != '|' && Peek != ')')
        {
            var atom = ParseRepeatedAtom(out var isBareCaret, out var isFlagGroup);
            if (isFlagGroup)
            {
                continue;
            }

            if (items == 0 && isBareCaret && !_multiLine)
            {
                startsWithCaret = true;
            }

            size = Add(size, atom);
            items++;
        }

        // An empty branch compiles to a Nop.
        return (items == 0 ? 1 : size, startsWithCaret);
    }

    private long ParseRepeatedAtom(out bool isBareCaret, out bool isFlagGroup)
    {
        isBareCaret = false;
        var quantifierStart = _position;
        if (TryParseQuantifier(out _, out _, consume: false))
        {
            throw Error("missing argument to repetition operator");
        }

        _position = quantifierStart;
        var product = _repeatDepthProduct;
        // The repetition of this atom (if any) is not known yet: atoms inside it are checked against the nested
        // product when the quantifier is read, by re-parsing with the product applied.
        var atomStart = _position;
        var flagsBefore = (_foldCase, _dotNewline, _multiLine);
        var atom = ParseAtom(out isBareCaret, out isFlagGroup);
        if (isFlagGroup)
        {
            return 0;
        }

        if (!TryParseQuantifier(out var min, out var max, consume: true))
        {
            return atom;
        }

        isBareCaret = false;
        // Only counts above 1 change the product of nested counts (and bound the re-parse below to depth 10).
        var count = Math.Max(min, max < 0 ? min : max);
        if (count > 1)
        {
            if ((long)product * count > MaxRepeat)
            {
                throw Error("bad repetition operator (nested repetition counts above 1000)");
            }

            // Check the atom's own nested repetitions with this count applied.
            var afterQuantifier = _position;
            var flagsAfter = (_foldCase, _dotNewline, _multiLine);
            _position = atomStart;
            (_foldCase, _dotNewline, _multiLine) = flagsBefore;
            _repeatDepthProduct = product * count;
            _ = ParseAtom(out _, out _);
            _repeatDepthProduct = product;
            _position = afterQuantifier;
            (_foldCase, _dotNewline, _multiLine) = flagsAfter;
        }

        if (!AtEnd && (Peek is '*' or '+' or '?' || (Peek == '{' && LooksLikeRepeat())))
        {
            throw Error("bad repetition operator (stacked or possessive repetition)");
        }

        return RepeatCost(atom, min, max);
    }

    /// <summary>The size of <c>x{min,max}</c> (max -1 = unbounded) as RE2 simplifies it.</summary>
    private static long RepeatCost(long atom, int min, int max)
    {
        if (max == 0)
        {
            return 1; // x{0}: an empty match (Nop)
        }

        if (max < 0)
        {
            // x* is a Quest of a Plus when x can be empty: two Alts; x{n,} is n copies of x, the last one in a loop.
            return min == 0 ? Add(atom, 4) : Add(Multiply(atom, min), 2);
        }

        // x{n,m}: n copies of x, then m-n nested optional copies, one Alt each.
        return Add(Multiply(atom, min), Multiply(Add(atom, 2), max - min));
    }

    private bool TryParseQuantifier(out int min, out int max, bool consume)
    {
        min = max = 0;
        if (AtEnd)
        {
            return false;
        }

        var start = _position;
        switch (Peek)
        {
            case '*':
                _position++;
                (min, max) = (0, -1);
                break;
            case '+':
                _position++;
                (min, max) = (1, -1);
                break;
            case '?':
                _position++;
                (min, max) = (0, 1);
                break;
            case '{':
                if (!TryParseRepeat(out min, out max))
                {
                    _position = start;
                    return false;
                }

                break;
            default:
                return false;
        }

        if (!AtEnd && Peek == '?')
        {
            _position++; // non-greedy: same program size
        }

        if (!consume)
        {
            _position = start;
        }

        return true;
    }

    private bool LooksLikeRepeat()
    {
        var start = _position;
        var result = TryParseRepeat(out _, out _);
        _position = start;
        return result;
    }

    /// <summary>Parses <c>{n}</c>, <c>{n,}</c> or <c>{n,m}</c>; anything else is a literal '{' (as in RE2).</summary>
    private bool TryParseRepeat(out int min, out int max)
    {
        min = max = 0;
        var start = _position;
        _position++;
        if (!TryParseNumber(out min))
        {
            _position = start;
            return false;
        }

        if (!AtEnd && Peek == ',')
        {
            _position++;
            if (!AtEnd && Peek == '}')
            {
                max = -1;
            }
            else if (!TryParseNumber(out max))
            {
                _position = start;
                return false;
            }
        }
        else
        {
            max = min;
        }

        if (AtEnd || Peek != '}')
        {
            _position = start;
            return false;
        }

        _position++;
        if (min > MaxRepeat || max > MaxRepeat || (max >= 0 && max < min))
        {
            throw Error("bad repetition operator (counts must be at most 1000 and in order)");
        }

        return true;
    }

    private bool TryParseNumber(out int value)
    {
        value = 0;
        var start = _position;
        while (!AtEnd && char.IsAsciiDigit(Peek))
        {
            // RE2 reads at most 8 digits worth of value; anything that large is refused as above 1000 anyway.
            value = Math.Min(value * 10 + (Peek - '0'), 100_000);
            _position++;
        }

        return _position > start;
    }

    private long ParseAtom(out bool isBareCaret, out bool isFlagGroup)
    {
        isBareCaret = false;
        isFlagGroup = false;
        var c = Peek;
        switch (c)
        {
            case '(':
                return ParseGroup(out isFlagGroup);
            case '[':
                return ClassCost(ParseClass());
            case '.':
                _position++;
                return ClassCost(_dotNewline ? [(0, MaxRune)] : [(0, '\n' - 1), ('\n' + 1, MaxRune)]);
            case '^':
                _position++;
                isBareCaret = true;
                return 1;
            case '$':
                _position++;
                return 1;
            case '\\':
                return ParseEscape();
            case ')':
                throw Error("unexpected ')'");
            default:
                return LiteralCost(ReadRune());
        }
    }

    private int ReadRune()
    {
        if (char.IsHighSurrogate(Peek) && _position + 1 < _pattern.Length && char.IsLowSurrogate(_pattern[_position + 1]))
        {
            var rune = char.ConvertToUtf32(Peek, _pattern[_position + 1]);
            _position += 2;
            return rune;
        }

        if (char.IsSurrogate(Peek))
        {
            throw Error("invalid UTF-8");
        }

        return _pattern[_position++];
    }

    private long ParseGroup(out bool isFlagGroup)
    {
        isFlagGroup = false;
        _position++; // (
        var capture = true;
        var saved = (_foldCase, _dotNewline, _multiLine);
        if (!AtEnd && Peek == '?')
        {
            _position++;
            if (AtEnd)
            {
                throw Error("missing argument after (?");
            }

            switch (Peek)
            {
                case '=' or '!':
                    throw Error("lookahead is not supported");
                case '>':
                    throw Error("atomic groups are not supported");
                case '#':
                    throw Error("comments are not supported");
                case 'P' when _position + 1 < _pattern.Length && _pattern[_position + 1] == '=':
                    throw Error("backreferences are not supported");
                case 'P' when _position + 1 < _pattern.Length && _pattern[_position + 1] == '<':
                    _position += 2;
                    ParseGroupName();
                    break;
                case '<' when _position + 1 < _pattern.Length && _pattern[_position + 1] is '=' or '!':
                    throw Error("lookbehind is not supported");
                case '<':
                    _position++;
                    ParseGroupName();
                    break;
                default:
                    capture = false;
                    if (ParseFlags())
                    {
                        // (?flags): applies to the rest of the enclosing group.
                        isFlagGroup = true;
                        return 0;
                    }

                    break;
            }
        }

        var (size, _, _) = ParseAlternation();
        if (AtEnd || Peek != ')')
        {
            throw Error("missing ')'");
        }

        _position++;
        (_foldCase, _dotNewline, _multiLine) = saved;
        return capture ? Add(size, 2) : size;
    }

    private void ParseGroupName()
    {
        var start = _position;
        while (!AtEnd && (char.IsAsciiLetterOrDigit(Peek) || Peek == '_'))
        {
            _position++;
        }

        if (_position == start || AtEnd || Peek != '>')
        {
            throw Error("invalid named capture group");
        }

        _position++;
    }

    /// <summary>Reads flags after <c>(?</c>: returns true for <c>(?flags)</c>, false for <c>(?flags:</c> (position after ':').</summary>
    private bool ParseFlags()
    {
        var negate = false;
        var any = false;
        while (!AtEnd)
        {
            var c = Peek;
            _position++;
            switch (c)
            {
                case 'i':
                    _foldCase = !negate;
                    any = true;
                    break;
                case 's':
                    _dotNewline = !negate;
                    any = true;
                    break;
                case 'm':
                    _multiLine = !negate;
                    any = true;
                    break;
                case 'U':
                    any = true;
                    break;
                case '-' when !negate:
                    negate = true;
                    any = false;
                    break;
                case ':' or ')' when any || (!negate && c == ':'):
                    return c == ')';
                default:
                    throw Error("invalid or unsupported group flags");
            }
        }

        throw Error("missing ')'");
    }

    private long ParseEscape()
    {
        _position++; // backslash
        if (AtEnd)
        {
            throw Error("trailing backslash");
        }

        var c = Peek;
        switch (c)
        {
            case 'b' or 'B' or 'A' or 'z':
                _position++;
                return 1;
            case 'C':
                _position++;
                return 1; // any byte: one byte range
            case 'Q':
                _position++;
                long size = 0;
                while (!AtEnd && !(Peek == '\\' && _position + 1 < _pattern.Length && _pattern[_position + 1] == 'E'))
                {
                    size = Add(size, LiteralCost(ReadRune()));
                }

                if (!AtEnd)
                {
                    _position += 2;
                }

                return size;
            case 'E':
                _position++;
                return 0; // a stray \E is ignored
            case 'd' or 'D' or 's' or 'S' or 'w' or 'W':
                _position++;
                return ClassCost(PerlClass(c));
            case 'p' or 'P':
                throw Error("Unicode classes (\\p, \\P) are not supported by the waypoint");
            default:
                return LiteralCost(ParseEscapedRune(inClass: false));
        }
    }

    /// <summary>A single-rune escape (after the backslash): octal, hex, control characters, punctuation.</summary>
    private int ParseEscapedRune(bool inClass)
    {
        var c = Peek;
        switch (c)
        {
            case >= '1' and <= '7' when _position + 1 >= _pattern.Length || _pattern[_position + 1] is < '0' or > '7':
                throw Error("backreferences are not supported");
            case >= '0' and <= '7':
            {
                var value = 0;
                for (var i = 0; i < 3 && !AtEnd && Peek is >= '0' and <= '7'; i++)
                {
                    value = (value * 8) + (Peek - '0');
                    _position++;
                }

                return value;
            }

            case 'x':
            {
                _position++;
                if (!AtEnd && Peek == '{')
                {
                    _position++;
                    var start = _position;
                    var value = 0;
                    while (!AtEnd && char.IsAsciiHexDigit(Peek))
                    {
                        value = Math.Min((value * 16) + Convert.ToInt32(Peek.ToString(), 16), MaxRune + 1);
                        _position++;
                    }

                    // Envoy's RE2 refuses \x{...} above FF (it reads the escape with a Latin-1 rune limit).
                    if (_position == start || AtEnd || Peek != '}' || value > 0xFF)
                    {
                        throw Error("invalid \\x{...} escape (Envoy's RE2 accepts at most \\x{FF})");
                    }

                    _position++;
                    return value;
                }

                if (_position + 1 < _pattern.Length && char.IsAsciiHexDigit(Peek) && char.IsAsciiHexDigit(_pattern[_position + 1]))
                {
                    var value = Convert.ToInt32(_pattern.Substring(_position, 2), 16);
                    _position += 2;
                    return value;
                }

                throw Error("invalid \\x escape");
            }

            case 'a':
                _position++;
                return 7;
            case 'f':
                _position++;
                return '\f';
            case 't':
                _position++;
                return '\t';
            case 'n':
                _position++;
                return '\n';
            case 'r':
                _position++;
                return '\r';
            case 'v':
                _position++;
                return '\v';
            default:
                if (c < 0x80 && !char.IsAsciiLetterOrDigit(c) && c != '_')
                {
                    _position++;
                    return c; // escaped punctuation is itself
                }

                throw Error(inClass ? $"invalid escape \\{c} in a character class" : $"invalid escape \\{c}");
        }
    }

    private List<(int Lo, int Hi)> ParseClass()
    {
        _position++; // [
        var negate = false;
        if (!AtEnd && Peek == '^')
        {
            negate = true;
            _position++;
        }

        var ranges = new List<(int Lo, int Hi)>();
        var first = true;
        while (true)
        {
            if (AtEnd)
            {
                throw Error("missing ']' of a character class");
            }

            if (Peek == ']' && !first)
            {
                _position++;
                break;
            }

            first = false;
            if (Peek == '[' && _position + 1 < _pattern.Length && _pattern[_position + 1] == ':')
            {
                ranges.AddRange(PosixClass());
                continue;
            }

            if (Peek == '\\' && _position + 1 < _pattern.Length && _pattern[_position + 1] is 'd' or 'D' or 's' or 'S' or 'w' or 'W')
            {
                ranges.AddRange(PerlClass(_pattern[_position + 1]));
                _position += 2;
                continue;
            }

            var lo = ClassRune();
            var hi = lo;
            if (_position + 1 < _pattern.Length && Peek == '-' && _pattern[_position + 1] != ']')
            {
                _position++;
                hi = ClassRune();
                if (hi < lo)
                {
                    throw Error("invalid character class range");
                }
            }

            ranges.Add((lo, hi));
        }

        if (_foldCase)
        {
            AddAsciiCaseFolds(ranges);
        }

        var merged = Merge(ranges);
        return negate ? Complement(merged) : merged;
    }

    private int ClassRune()
    {
        if (Peek != '\\')
        {
            return ReadRune();
        }

        _position++;
        if (AtEnd)
        {
            throw Error("trailing backslash");
        }

        if (Peek is 'p' or 'P')
        {
            throw Error("Unicode classes (\\p, \\P) are not supported by the waypoint");
        }

        return ParseEscapedRune(inClass: true);
    }

    private List<(int Lo, int Hi)> PosixClass()
    {
        var end = _pattern.IndexOf(":]", _position + 2, StringComparison.Ordinal);
        if (end < 0)
        {
            throw Error("missing ':]' of a POSIX class");
        }

        var name = _pattern[(_position + 2)..end];
        _position = end + 2;
        var negate = name.StartsWith('^');
        if (negate)
        {
            name = name[1..];
        }

        List<(int, int)> ranges = name switch
        {
            "alnum" => [('0', '9'), ('A', 'Z'), ('a', 'z')],
            "alpha" => [('A', 'Z'), ('a', 'z')],
            "ascii" => [(0, 0x7F)],
            "blank" => [('\t', '\t'), (' ', ' ')],
            "cntrl" => [(0, 0x1F), (0x7F, 0x7F)],
            "digit" => [('0', '9')],
            "graph" => [('!', '~')],
            "lower" => [('a', 'z')],
            "print" => [(' ', '~')],
            "punct" => [('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
            "space" => [('\t', '\r'), (' ', ' ')],
            "upper" => [('A', 'Z')],
            "word" => [('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')],
            "xdigit" => [('0', '9'), ('A', 'F'), ('a', 'f')],
            _ => throw Error($"invalid POSIX class [:{name}:]"),
        };
        return negate ? Complement(Merge(ranges)) : ranges;
    }

    private static List<(int Lo, int Hi)> PerlClass(char c)
    {
        List<(int, int)> ranges = char.ToLowerInvariant(c) switch
        {
            'd' => [('0', '9')],
            's' => [('\t', '\n'), ('\f', '\r'), (' ', ' ')],
            _ => [('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')],
        };
        return char.IsUpper(c) ? Complement(Merge(ranges)) : Merge(ranges);
    }

    private static void AddAsciiCaseFolds(List<(int Lo, int Hi)> ranges)
    {
        var count = ranges.Count;
        for (var i = 0; i < count; i++)
        {
            var (lo, hi) = ranges[i];
            AddShifted(ranges, lo, hi, 'a', 'z', 'A' - 'a');
            AddShifted(ranges, lo, hi, 'A', 'Z', 'a' - 'A');
        }

        // k and s also fold to the Kelvin sign and the long s.
        if (ranges.Any(r => Contains(r, 'k') || Contains(r, 'K')))
        {
            ranges.Add((0x212A, 0x212A));
        }

        if (ranges.Any(r => Contains(r, 's') || Contains(r, 'S')))
        {
            ranges.Add((0x17F, 0x17F));
        }

        static bool Contains((int Lo, int Hi) r, int c) => r.Lo <= c && c <= r.Hi;

        static void AddShifted(List<(int Lo, int Hi)> ranges, int lo, int hi, int from, int to, int shift)
        {
            var a = Math.Max(lo, from);
            var b = Math.Min(hi, to);
            if (a <= b)
            {
                ranges.Add((a + shift, b + shift));
            }
        }
    }

    private static List<(int Lo, int Hi)> Merge(List<(int Lo, int Hi)> ranges)
    {
        var sorted = ranges.OrderBy(r => r.Lo).ToList();
        var merged = new List<(int Lo, int Hi)>(sorted.Count);
        foreach (var r in sorted)
        {
            if (merged.Count > 0 && r.Lo <= merged[^1].Hi + 1)
            {
                merged[^1] = (merged[^1].Lo, Math.Max(merged[^1].Hi, r.Hi));
            }
            else
            {
                merged.Add(r);
            }
        }

        return merged;
    }

    private static List<(int Lo, int Hi)> Complement(List<(int Lo, int Hi)> merged)
    {
        var result = new List<(int Lo, int Hi)>();
        var next = 0;
        foreach (var (lo, hi) in merged)
        {
            if (lo > next)
            {
                result.Add((next, lo - 1));
            }

            next = hi + 1;
        }

        if (next <= MaxRune)
        {
            result.Add((next, MaxRune));
        }

        return result;
    }

    /// <summary>
    /// A class: one byte range per ASCII range; above ASCII, six for the whole 80–10FFFF range (RE2's special case),
    /// else each range's UTF-8 byte sequences without the suffix sharing RE2 applies (at most 2n-1 sequences of n
    /// bytes per encoded length n).
    /// </summary>
    private long ClassCost(List<(int Lo, int Hi)> ranges)
    {
        var merged = Merge(ranges);
        if (merged.Count == 0)
        {
            return 1; // matches nothing: a Fail
        }

        long size = 0;
        foreach (var (lo, hi) in merged)
        {
            if (lo < 0x80)
            {
                size++;
            }

            if (hi < 0x80)
            {
                continue;
            }

            var from = Math.Max(lo, 0x80);
            if (from == 0x80 && hi == MaxRune)
            {
                size += 6;
                continue;
            }

            foreach (var (bucketLo, bucketHi, bytes) in Utf8Lengths)
            {
                if (from <= bucketHi && hi >= bucketLo)
                {
                    size += ((2 * bytes) - 1) * bytes;
                }
            }
        }

        // Under (?i) RE2 folds every non-ASCII rune too, which may add ranges; bound them generously.
        return _foldCase && merged.Any(r => r.Hi >= 0x80) ? Multiply(size, 4) : size;
    }

    private static readonly (int Lo, int Hi, int Bytes)[] Utf8Lengths = [(0x80, 0x7FF, 2), (0x800, 0xFFFF, 3), (0x10000, MaxRune, 4)];

    /// <summary>A literal: one byte range per UTF-8 byte; under (?i), the class of its case variants.</summary>
    private long LiteralCost(int rune)
    {
        if (!_foldCase)
        {
            return rune switch { < 0x80 => 1, < 0x800 => 2, < 0x10000 => 3, _ => 4 };
        }

        if (rune < 0x80)
        {
            return ClassCost(FoldedAscii(rune));
        }

        // A non-ASCII rune folds to at most four runes of at most four bytes.
        return 16;
    }

    private static List<(int Lo, int Hi)> FoldedAscii(int rune)
    {
        var ranges = new List<(int Lo, int Hi)> { (rune, rune) };
        AddAsciiCaseFolds(ranges);
        return ranges;
    }

    private static long Add(long a, long b) => Math.Min(a + b, long.MaxValue / 4);

    private static long Multiply(long a, long n) => a == 0 || n == 0 ? 0 : Math.Min(a * n, long.MaxValue / 4);
}
