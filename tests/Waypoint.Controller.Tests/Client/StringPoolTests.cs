using Waypoint.Controller.Client;

namespace Waypoint.Controller.Tests.Client;

/// <summary>The informers' string pool: equal strings share one instance, within bounds.</summary>
public sealed class StringPoolTests
{
    [Fact]
    public void Equal_Strings_Share_One_Instance()
    {
        var pool = new StringPool();
        var first = pool.Intern(new string("kubernetes.io/service-name".AsSpan()));
        var second = pool.Intern(new string("kubernetes.io/service-name".AsSpan()));

        Assert.Same(first, second);
        Assert.Equal(1, pool.Count);
        Assert.Null(pool.Intern((string?)null));
        Assert.Same(string.Empty, pool.Intern(new string([])));
    }

    [Fact]
    public void Labels_Are_Copied_With_Pooled_Keys_And_Values()
    {
        var pool = new StringPool();
        var a = pool.Intern(new Dictionary<string, string> { [new string("app".AsSpan())] = new string("svc-1".AsSpan()) });
        var b = pool.Intern(new Dictionary<string, string> { [new string("app".AsSpan())] = new string("svc-1".AsSpan()) });

        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.Equal("svc-1", a["app"]);
        Assert.Same(a.Keys.Single(), b.Keys.Single());
        Assert.Same(a["app"], b["app"]);
        Assert.Null(pool.Intern((IDictionary<string, string>?)null));
    }

    [Fact]
    public void The_Pool_Stops_Growing_At_Its_Capacity_And_Skips_Long_Strings()
    {
        var pool = new StringPool(capacity: 2);
        var one = pool.Intern(new string("one".AsSpan()));
        pool.Intern("two");
        var three = new string("three".AsSpan());

        Assert.Same(three, pool.Intern(three));
        Assert.NotSame(pool.Intern(new string("three".AsSpan())), three);
        Assert.Equal(2, pool.Count);
        Assert.Same(one, pool.Intern(new string("one".AsSpan())));

        var unbounded = new StringPool();
        var long1 = new string('x', StringPool.MaxLength + 1);
        Assert.NotSame(unbounded.Intern(new string('x', StringPool.MaxLength + 1)), unbounded.Intern(long1));
        Assert.Equal(0, unbounded.Count);
    }
}
