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

    [Fact]
    public void Equal_Label_Sets_Share_One_Read_Only_Instance_In_Their_Order()
    {
        var pool = new StringPool();
        Dictionary<string, string> Labels(string service) => new()
        {
            [new string("kubernetes.io/service-name".AsSpan())] = new string(service.AsSpan()),
            ["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io",
        };

        var first = pool.Intern(Labels("svc-1"));
        var second = pool.Intern(Labels("svc-1"));
        var other = pool.Intern(Labels("svc-2"));

        Assert.Same(first, second);
        Assert.NotSame(first, other);
        Assert.Equal(2, pool.LabelSetCount);
        Assert.Equal(["kubernetes.io/service-name", "endpointslice.kubernetes.io/managed-by"], first!.Keys);
        Assert.Equal("svc-2", other!["kubernetes.io/service-name"]);
        Assert.True(first.TryGetValue("endpointslice.kubernetes.io/managed-by", out var managedBy));
        Assert.Equal("endpointslice-controller.k8s.io", managedBy);
        Assert.False(first.ContainsKey("app"));
        Assert.Throws<KeyNotFoundException>(() => first["app"]);
        Assert.True(first.IsReadOnly);
        Assert.Throws<NotSupportedException>(() => first["app"] = "x");
        Assert.Same(pool.Intern(new Dictionary<string, string>()), pool.Intern(new Dictionary<string, string>()));
    }

    [Fact]
    public void Label_Sets_Past_The_Capacity_Are_Kept_But_Not_Shared()
    {
        var pool = new StringPool(capacity: 1);
        var kept = pool.Intern(new Dictionary<string, string> { ["app"] = "a" });
        var beyond = pool.Intern(new Dictionary<string, string> { ["app"] = "b" });

        Assert.Same(kept, pool.Intern(new Dictionary<string, string> { ["app"] = "a" }));
        Assert.NotSame(beyond, pool.Intern(new Dictionary<string, string> { ["app"] = "b" }));
        Assert.Equal("b", beyond!["app"]);
        Assert.Equal(1, pool.LabelSetCount);
    }
}
