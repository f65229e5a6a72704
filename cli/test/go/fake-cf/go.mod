module fakecf

go 1.19
