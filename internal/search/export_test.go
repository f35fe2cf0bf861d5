package search

// Words is the tokenizer's words of s, for the tests outside the package.
var Words = words
