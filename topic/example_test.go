package topic_test

import (
	"errors"
	"fmt"

	"github.com/org/macula/topic"
)

func ExampleValidate() {
	fmt.Println(topic.Validate("sensors.kitchen.temperature"))
	err := topic.Validate("sensors..temperature")
	fmt.Println(errors.Is(err, topic.ErrInvalidTopic))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// macula: invalid topic "sensors..temperature": empty segment 2
}

func ExampleValidatePattern() {
	fmt.Println(topic.ValidatePattern("sensors.*.temperature"))
	fmt.Println(topic.ValidatePattern("sensors.#.temperature"))
	// Output:
	// <nil>
	// macula: invalid topic "sensors.#.temperature": wildcard '#' in segment 2 must be the last segment
}

func ExampleMatch() {
	fmt.Println(topic.Match("sensors.*.temperature", "sensors.kitchen.temperature"))
	fmt.Println(topic.Match("sensors.#", "sensors.kitchen.temperature"))
	fmt.Println(topic.Match("sensors.#", "sensors"))
	// Output:
	// true
	// true
	// false
}

func ExampleAnchor() {
	fmt.Printf("%q\n", topic.Anchor("sensors.*.temperature"))
	fmt.Printf("%q\n", topic.Anchor("*.temperature"))
	fmt.Printf("%q\n", topic.Anchor("sensors.kitchen"))
	// Output:
	// "sensors"
	// ""
	// "sensors.kitchen"
}

func ExampleAnchors() {
	fmt.Printf("%q\n", topic.Anchors("sensors.kitchen.temperature"))
	// Output:
	// ["" "sensors" "sensors.kitchen" "sensors.kitchen.temperature"]
}

func ExampleAppendAnchors() {
	var buf [topic.MaxDepth + 1]string
	anchors := topic.AppendAnchors(buf[:0], "a.b")
	fmt.Printf("%q\n", anchors)
	// Output:
	// ["" "a" "a.b"]
}
